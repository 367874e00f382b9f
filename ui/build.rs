fn main() {
    // Element debug info lets tests find buttons by their accessible labels and tap them
    // (i-slint-backend-testing); it costs a few kilobytes of strings.
    let config = slint_build::CompilerConfiguration::new().with_debug_info(true);
    slint_build::compile_with_config("ui/app.slint", config)
        .expect("the kiosk screens (ui/*.slint) must compile");
}
