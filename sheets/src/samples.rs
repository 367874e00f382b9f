//! A4 pages of known Vietnamese text, drawn at 300 dpi with the same DejaVu fonts as the
//! sheets, for the OCR text layer's tests and benchmark: what the page says is known, so the
//! words an OCR finds can be counted against it (word recall).

use motcua_printer::text::{b, r, Fonts, Style};
use motcua_printer::Bitmap;

use super::{A4_HEIGHT, A4_WIDTH, MARGIN};

/// The national motto and a birth registration request (the words of Form "Tờ khai đăng ký
/// khai sinh"), with `number` in its own line so pages differ.
pub fn birth_form_text(number: u32) -> Vec<(f32, bool, String)> {
    vec![
        (54.0, true, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM".to_owned()),
        (50.0, true, "Độc lập - Tự do - Hạnh phúc".to_owned()),
        (60.0, true, "TỜ KHAI ĐĂNG KÝ KHAI SINH".to_owned()),
        (44.0, false, format!("Số hồ sơ: {number:04}")),
        (44.0, false, "Kính gửi: Ủy ban nhân dân phường Hòa Bình".to_owned()),
        (44.0, false, "Họ, chữ đệm, tên người yêu cầu: Nguyễn Thị Hương".to_owned()),
        (44.0, false, "Nơi cư trú: số 12 đường Lê Lợi, thành phố Cần Thơ".to_owned()),
        (44.0, false, "Quan hệ với người được khai sinh: mẹ đẻ".to_owned()),
        (44.0, false, "Đề nghị cơ quan đăng ký khai sinh cho người dưới đây:".to_owned()),
        (44.0, false, "Họ, chữ đệm, tên: Trần Minh Khôi".to_owned()),
        (44.0, false, "Ngày, tháng, năm sinh: mười lăm tháng sáu năm hai nghìn hai mươi sáu".to_owned()),
        (44.0, false, "Giới tính: Nam. Dân tộc: Kinh. Quốc tịch: Việt Nam".to_owned()),
        (44.0, false, "Nơi sinh: Bệnh viện Đa khoa thành phố Cần Thơ".to_owned()),
        (44.0, false, "Tôi cam đoan nội dung đề nghị đăng ký khai sinh trên đây là đúng sự thật và chịu trách nhiệm trước pháp luật về cam đoan của mình.".to_owned()),
        (44.0, false, "Đề nghị cấp bản sao giấy khai sinh: có, số lượng hai bản.".to_owned()),
        (44.0, false, "Làm tại phường Hòa Bình, ngày mười tháng bảy năm hai nghìn hai mươi sáu".to_owned()),
        (44.0, true, "Người yêu cầu".to_owned()),
    ]
}

/// The text of [`birth_form_text`] as one string (lines joined by newlines).
pub fn birth_form_plain(number: u32) -> String {
    birth_form_text(number)
        .into_iter()
        .map(|(_, _, t)| t)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Draws `lines` (size in dots, bold, text) on an A4 page, the first three centred as a
/// letterhead is, the rest flush left and wrapped within the margins.
pub fn render_text_page(fonts: &Fonts, lines: &[(f32, bool, String)]) -> Bitmap {
    let mut page = Bitmap::new(A4_WIDTH, A4_HEIGHT);
    let width = A4_WIDTH - 2 * MARGIN;
    let mut y = 200;
    for (i, (size, bold, text)) in lines.iter().enumerate() {
        let run = if *bold { b(text) } else { r(text) };
        let style = if i < 3 {
            Style::center(*size)
        } else {
            Style::left(*size)
        };
        y = fonts.paragraph(&mut page, MARGIN, y, width, &[run], &style) + 30;
        if y >= A4_HEIGHT - 200 {
            break;
        }
    }
    page
}

/// `page` as 8-bit grey (black ink on white paper).
pub fn to_gray(page: &Bitmap) -> image::GrayImage {
    image::GrayImage::from_fn(page.width(), page.height(), |x, y| {
        image::Luma([if page.get(x, y) { 0 } else { 255 }])
    })
}
