//! The little conversions every screen handler needs: flow values into Slint models, strings and
//! the chosen language. A leaf module (it imports no handler), so the handlers and `show` share it
//! without a cycle.

use motcua_flows::submission::Thumbnail;
use motcua_flows::{Lang, Message};
use motcua_ui::LabelValue;
use slint::{Image, ModelRc, Rgb8Pixel, SharedPixelBuffer, SharedString, VecModel};

/// A list property from a vector.
pub(super) fn model<T: Clone + 'static>(items: Vec<T>) -> ModelRc<T> {
    ModelRc::new(VecModel::from(items))
}

/// A string property.
pub(super) fn ss(s: impl AsRef<str>) -> SharedString {
    SharedString::from(s.as_ref())
}

/// The Vietnamese or the English text as a string property (titles, headings, hints).
pub(super) fn tr(lang: Lang, vi: &str, en: &str) -> SharedString {
    ss(pick(lang, vi, en))
}

/// A label and value line (review, results, procedure facts).
pub(super) fn lv(label: &str, value: impl AsRef<str>) -> LabelValue {
    LabelValue {
        label: ss(label),
        value: ss(value),
    }
}

/// The Vietnamese or the English text.
pub(super) fn pick<'a>(lang: Lang, vi: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Vi => vi,
        Lang::En => en,
    }
}

/// A flow's optional message in the chosen language; empty (no banner) when there is none.
pub(super) fn msg(m: &Option<Message>, lang: Lang) -> SharedString {
    m.as_ref().map(|m| ss(m.get(lang))).unwrap_or_default()
}

/// A scanned page's thumbnail as a Slint image.
pub(super) fn thumbnail(t: &Thumbnail) -> Image {
    let buffer = SharedPixelBuffer::<Rgb8Pixel>::clone_from_slice(&t.rgb, t.width, t.height);
    Image::from_rgb8(buffer)
}

/// "tiếng Việt / English" text in the chosen language (both when it has no " / ").
pub(super) fn half(text: &str, lang: Lang) -> String {
    crate::touch::services::bilingual(text).get(lang).to_owned()
}

/// The result screen's printer state: `None` is still printing, then ok or failed with why.
pub(super) fn print_state(
    printed: &Option<Result<(), Message>>,
    lang: Lang,
) -> (&'static str, SharedString) {
    match printed {
        None => ("printing", SharedString::new()),
        Some(Ok(())) => ("ok", SharedString::new()),
        Some(Err(m)) => ("failed", ss(m.get(lang))),
    }
}
