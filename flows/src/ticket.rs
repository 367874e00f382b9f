//! Taking a queue ticket: choose the service area, get a printed number and the expected wait.

use super::Message;

/// A service area citizens queue for (from `[[ticket.areas]]` in the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceArea {
    /// Area code printed on the ticket, e.g. `TP` (tư pháp).
    pub code: String,
    /// Name in Vietnamese.
    pub name_vi: String,
    /// Name in English.
    pub name_en: String,
}

/// A ticket as the citizen sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTicket {
    /// Full ticket id (the code a rating refers to).
    pub ticket_id: String,
    /// The number called out at the counter.
    pub number: u32,
    /// The area.
    pub area: ServiceArea,
    /// People ahead in this area's queue, by estimate.
    pub ahead: u32,
    /// Expected wait, minutes (the kiosk's own estimate, when `wait_text` is `None`).
    pub wait_minutes: u32,
    /// The expected wait in words, when another part estimated it: the centre's hub (a range
    /// from the live queue), or "cannot be estimated" for a ticket issued offline.
    pub wait_text: Option<Message>,
    /// Numbered from the kiosk's own fallback block because the centre's hub was unreachable:
    /// the slip and the screen say so, and the people ahead are not known.
    pub offline: bool,
}

impl IssuedTicket {
    /// The expected wait as the screen and the slip say it.
    pub fn wait_words(&self) -> Message {
        match (&self.wait_text, self.wait_minutes) {
            (Some(m), _) => m.clone(),
            (None, 0) => Message::new("không phải chờ", "no wait"),
            (None, m) => Message::new(format!("khoảng {m} phút"), format!("about {m} min")),
        }
    }
}

/// What a ticket numbered from the kiosk's fallback block says, in bold.
pub fn offline_notice() -> Message {
    Message::new(
        "CẤP KHI MẤT KẾT NỐI VỚI MÁY CHỦ QUẦY",
        "Issued offline: the hall's queue server could not be reached",
    )
}

/// The wait of a ticket issued offline: nobody can tell the queue ahead of it.
pub fn offline_wait() -> Message {
    Message::new(
        "không ước tính được (mất kết nối máy chủ quầy)",
        "cannot be estimated (the queue server is unreachable)",
    )
}

/// Where the ticket flow is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketStep {
    /// Choosing the area.
    Choose,
    /// Issuing and printing.
    Issuing {
        /// The chosen area.
        area: ServiceArea,
    },
    /// Issued; `printed` says how the printer did.
    Done {
        /// The ticket.
        ticket: IssuedTicket,
        /// `None` while printing, then the outcome.
        printed: Option<Result<(), Message>>,
    },
    /// The ticket could not be issued.
    Failed(Message),
}

/// Events of the ticket flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketEvent {
    /// The citizen chose an area (by code).
    Choose(String),
    /// The store issued the ticket.
    Issued(IssuedTicket),
    /// The ticket could not be issued.
    IssueFailed(Message),
    /// The printer finished.
    Printed(Result<(), Message>),
    /// Print it again (after a printer problem).
    Reprint,
}

/// Effects of the ticket flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketEffect {
    /// Issue (durably) and print a ticket for this area.
    Issue(ServiceArea),
    /// Print an issued ticket again.
    Reprint(IssuedTicket),
}

/// The ticket flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketFlow {
    /// The areas offered.
    pub areas: Vec<ServiceArea>,
    /// Where it is.
    pub step: TicketStep,
}

impl TicketFlow {
    /// A new flow offering `areas`.
    pub fn new(areas: Vec<ServiceArea>) -> Self {
        Self {
            areas,
            step: TicketStep::Choose,
        }
    }

    /// Applies an event.
    pub fn handle(&mut self, event: TicketEvent) -> Vec<TicketEffect> {
        match (event, &mut self.step) {
            (TicketEvent::Choose(code), TicketStep::Choose | TicketStep::Failed(_)) => {
                match self.areas.iter().find(|a| a.code == code) {
                    Some(area) => {
                        let area = area.clone();
                        self.step = TicketStep::Issuing { area: area.clone() };
                        vec![TicketEffect::Issue(area)]
                    }
                    None => Vec::new(),
                }
            }
            (TicketEvent::Issued(ticket), TicketStep::Issuing { .. }) => {
                self.step = TicketStep::Done {
                    ticket,
                    printed: None,
                };
                Vec::new()
            }
            (TicketEvent::IssueFailed(m), TicketStep::Issuing { .. }) => {
                self.step = TicketStep::Failed(m);
                Vec::new()
            }
            (TicketEvent::Printed(r), TicketStep::Done { printed, .. }) => {
                *printed = Some(r);
                Vec::new()
            }
            (TicketEvent::Reprint, TicketStep::Done { ticket, printed }) => {
                *printed = None;
                vec![TicketEffect::Reprint(ticket.clone())]
            }
            _ => Vec::new(),
        }
    }

    /// The ticket taken in this flow, if any (a rating can refer to it).
    pub fn ticket(&self) -> Option<&IssuedTicket> {
        match &self.step {
            TicketStep::Done { ticket, .. } => Some(ticket),
            _ => None,
        }
    }
}

/// Expected wait for a new ticket, from the times today's earlier tickets of the area were
/// issued: the queue is drained by `counters` officers at `minutes_per_citizen` each, starting at
/// the first ticket. Returns (people ahead, minutes).
pub fn expected_wait(
    earlier_issue_minutes: &[u32],
    now_minute: u32,
    minutes_per_citizen: u32,
    counters: u32,
) -> (u32, u32) {
    let per = f64::from(minutes_per_citizen.max(1)) / f64::from(counters.max(1));
    // When the counters would be free again, serving tickets in order.
    let mut free_at = 0.0f64;
    let mut finish_times = Vec::with_capacity(earlier_issue_minutes.len());
    for &t in earlier_issue_minutes {
        let start = free_at.max(f64::from(t));
        free_at = start + per;
        finish_times.push(free_at);
    }
    let now = f64::from(now_minute);
    let ahead = finish_times.iter().filter(|&&f| f > now).count() as u32;
    let wait = (free_at - now).max(0.0).ceil() as u32;
    (ahead, wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn areas() -> Vec<ServiceArea> {
        vec![ServiceArea {
            code: "TP".into(),
            name_vi: "Tư pháp".into(),
            name_en: "Justice".into(),
        }]
    }

    fn ticket() -> IssuedTicket {
        IssuedTicket {
            ticket_id: "TP-20261123-7@K1".into(),
            number: 7,
            area: areas().remove(0),
            ahead: 2,
            wait_minutes: 10,
            wait_text: None,
            offline: false,
        }
    }

    #[test]
    fn choose_issue_print_reprint() {
        let mut f = TicketFlow::new(areas());
        assert!(f.handle(TicketEvent::Choose("XX".into())).is_empty());
        assert_eq!(
            f.handle(TicketEvent::Choose("TP".into())),
            vec![TicketEffect::Issue(areas().remove(0))]
        );
        // A second touch while issuing does not issue twice.
        assert!(f.handle(TicketEvent::Choose("TP".into())).is_empty());
        f.handle(TicketEvent::Issued(ticket()));
        assert_eq!(f.ticket(), Some(&ticket()));
        f.handle(TicketEvent::Printed(Err(Message::new(
            "hết giấy",
            "out of paper",
        ))));
        assert_eq!(
            f.handle(TicketEvent::Reprint),
            vec![TicketEffect::Reprint(ticket())]
        );
    }

    #[test]
    fn failure_lets_the_citizen_try_again() {
        let mut f = TicketFlow::new(areas());
        f.handle(TicketEvent::Choose("TP".into()));
        f.handle(TicketEvent::IssueFailed(Message::new("lỗi", "error")));
        assert!(matches!(f.step, TicketStep::Failed(_)));
        assert_eq!(f.handle(TicketEvent::Choose("TP".into())).len(), 1);
    }

    #[test]
    fn wait_follows_the_queue() {
        // Nobody before: no wait.
        assert_eq!(expected_wait(&[], 600, 10, 2), (0, 0));
        // Four tickets at 9:00, two counters, 10 min each (one done every 5 min): at 9:05 the
        // first is done, three are ahead, the counters are free at 9:20.
        assert_eq!(expected_wait(&[540, 540, 540, 540], 545, 10, 2), (3, 15));
        // Long ago: the queue is empty again.
        assert_eq!(expected_wait(&[540, 541], 700, 10, 1), (0, 0));
    }
}
