//! The kiosk's peripherals: receipt printer, code reader, document scanner.
//!
//! [`settings`] turns the config file's sections into validated settings that build the real
//! driver; [`selftest`] is the technician's pass/fail test per device; [`discover`] lists what
//! is attached. The config file assembles the settings; nothing here reads it.

pub mod discover;
pub mod selftest;
pub mod settings;

pub use discover::{discover, printer_health, printer_state, Discovered};
pub use selftest::{
    self_test, summary, test_code_reader, test_printer, test_receipt, test_scanner,
    unattended_self_test, SelfTestOptions, SelfTestResult,
};
pub use settings::{
    CodeReaderConfig, PeripheralsConfig, PrinterConfig, RawCodeReader, RawPrinter, RawScanner,
    ScannerConfig,
};
