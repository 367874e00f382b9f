fn main() {
    slint_build::compile("ui/app.slint").expect("the kiosk screens (ui/*.slint) must compile");
}
