//! The "Nghe hướng dẫn / Listen" key and the spoken ticket number, through the session: the
//! events a screen sends in, the `Speak` effects the kiosk carries out.

use std::sync::Arc;

use motcua_domain::rating::RatingScale;
use motcua_flows::session::{Effect, Event, IdlePolicy, Screen, Session, SessionSettings};
use motcua_flows::staff::PinPolicy;
use motcua_flows::ticket::{IssuedTicket, ServiceArea, TicketEvent};
use motcua_flows::{Lang, Message};

fn area() -> ServiceArea {
    ServiceArea {
        code: "TP".into(),
        name_vi: "Tư pháp".into(),
        name_en: "Justice".into(),
    }
}

fn session() -> Session {
    Session::new(
        SessionSettings {
            catalog: Arc::new(motcua_domain::catalog::seed()),
            areas: vec![area()],
            rating_scale: RatingScale::Three,
            idle: IdlePolicy::default(),
            pins: PinPolicy::default(),
        },
        0,
    )
}

/// The one thing said by these effects, with its language.
fn said(effects: &[Effect]) -> (String, Lang) {
    let spoken: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Speak { text, lang } => Some((text.clone(), *lang)),
            _ => None,
        })
        .collect();
    assert_eq!(spoken.len(), 1, "expected one Speak in {effects:?}");
    spoken[0].clone()
}

/// Spoken texts are written for the ear: no digits, slashes or quotes for the voice to misread.
fn assert_for_the_ear(text: &str) {
    assert!(
        !text.contains(['/', '"', '“', '”']) && !text.chars().any(|c| c.is_ascii_digit()),
        "{text:?}"
    );
}

#[test]
fn listen_says_what_each_citizen_screen_asks_in_its_language() {
    let mut s = session();
    let (text, lang) = said(&s.handle(Event::Listen, 1));
    assert_eq!(lang, Lang::Vi);
    assert!(
        text.starts_with("Xin chào. Chạm vào nút nộp hồ sơ"),
        "{text}"
    );
    assert_for_the_ear(&text);

    s.handle(Event::Open("ticket".into()), 2);
    let (text, _) = said(&s.handle(Event::Listen, 3));
    assert_eq!(
        text,
        "Chạm vào lĩnh vực bạn cần giải quyết để lấy số thứ tự."
    );
    // Listening changes nothing on the screen.
    assert!(matches!(&s.screen, Screen::Ticket(f) if f.ticket().is_none()));

    s.handle(Event::Language(Lang::En), 4);
    let (text, lang) = said(&s.handle(Event::Listen, 5));
    assert_eq!(lang, Lang::En);
    assert_eq!(text, "Touch the service you need to get a queue number.");

    for (screen, starts) in [
        ("submit", "Type the name of the procedure"),
        ("lookup", "Hold the QR code of your receipt"),
        ("rate", "Hold the QR code of your queue ticket"),
    ] {
        s.handle(Event::Open(screen.into()), 6);
        let (text, _) = said(&s.handle(Event::Listen, 7));
        assert!(text.starts_with(starts), "{screen}: {text}");
        assert_for_the_ear(&text);
    }
    s.handle(Event::Home, 8);
    s.handle(Event::Open("rate".into()), 9);
    let (text, _) = said(&s.handle(Event::Listen, 10));
    assert!(text.starts_with("Đưa mã QR trên phiếu số thứ tự"), "{text}");
    assert_for_the_ear(&text);
}

#[test]
fn listen_reads_the_error_shown_before_the_instruction() {
    let mut s = session();
    s.handle(Event::Open("ticket".into()), 0);
    s.handle(Event::Ticket(TicketEvent::Choose("TP".into())), 1);
    s.handle(
        Event::Ticket(TicketEvent::IssueFailed(Message::new(
            "Không lấy được số",
            "No number could be issued",
        ))),
        2,
    );
    let (text, _) = said(&s.handle(Event::Listen, 3));
    assert_eq!(
        text,
        "Không lấy được số. Chạm vào lĩnh vực bạn cần giải quyết để lấy số thứ tự."
    );
    // A notice on the home screen is read out, and not cleared by the key.
    let mut s = session();
    s.handle(
        Event::CodeScanned(motcua_domain::cccd::SAMPLE_PAYLOAD.into()),
        0,
    );
    let notice = s.notice.clone().expect("a notice");
    let (text, _) = said(&s.handle(Event::Listen, 1));
    assert!(text.starts_with(notice.vi.trim_end_matches('.')), "{text}");
    assert_eq!(s.notice, Some(notice));
}

#[test]
fn staff_screens_have_nothing_to_say() {
    let mut s = session();
    s.handle(Event::Open("staff".into()), 0);
    assert_eq!(s.instruction(), None);
    assert!(s.handle(Event::Listen, 1).is_empty());
}

#[test]
fn the_ticket_number_is_spoken_in_words_when_it_prints() {
    let mut s = session();
    s.handle(Event::Open("ticket".into()), 0);
    s.handle(Event::Ticket(TicketEvent::Choose("TP".into())), 1);
    let issued = s.handle(
        Event::Ticket(TicketEvent::Issued(IssuedTicket {
            ticket_id: "TP-20261203-1023@K".into(),
            number: 1023,
            area: area(),
            ahead: 2,
            wait_minutes: 10,
            wait_text: None,
            offline: false,
        })),
        2,
    );
    assert!(
        issued.is_empty(),
        "nothing is said before the printer answers"
    );
    let (text, lang) = said(&s.handle(Event::Ticket(TicketEvent::Printed(Ok(()))), 3));
    assert_eq!(lang, Lang::Vi);
    assert_eq!(
        text,
        "Số thứ tự của bạn là một nghìn không trăm hai mươi ba. Mời bạn nhận phiếu ở khe máy in \
         và chờ gọi số."
    );
    // The Listen key on the result says it again.
    let (again, _) = said(&s.handle(Event::Listen, 4));
    assert_eq!(again, text);
    // A failed print still says the number, and what to do.
    let reprint = s.handle(Event::Ticket(TicketEvent::Reprint), 5);
    assert!(!reprint.iter().any(|e| matches!(e, Effect::Speak { .. })));
    s.handle(Event::Language(Lang::En), 6);
    let (text, lang) = said(&s.handle(
        Event::Ticket(TicketEvent::Printed(Err(Message::new(
            "Hết giấy",
            "Out of paper",
        )))),
        7,
    ));
    assert_eq!(lang, Lang::En);
    assert!(
        text.starts_with("Your number is one thousand twenty-three. The printer could not print"),
        "{text}"
    );
}
