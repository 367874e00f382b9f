//! What the technician's screen shows while a kiosk is unprovisioned: the title, every step
//! with its mark, and the last error. One plain state, built from the steps' progress, that
//! the touch screen renders and the headless kiosk puts on its `STATUS=` line.

use serde::Serialize;

use super::{Progress, Step};

/// A step's mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// Not reached yet.
    Pending,
    /// Under way.
    Running,
    /// Done.
    Done,
    /// Failed (see the state's `last_error`).
    Failed,
}

impl Mark {
    /// One character for a text screen or a log line.
    pub fn symbol(self) -> &'static str {
        match self {
            Mark::Pending => "·",
            Mark::Running => "…",
            Mark::Done => "✓",
            Mark::Failed => "✗",
        }
    }
}

/// One line of the step list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StepLine {
    /// The step.
    #[serde(skip)]
    pub step: Step,
    /// Its words.
    pub label: String,
    /// Its mark.
    pub mark: Mark,
    /// What it did, when done.
    pub detail: String,
}

/// The technician's screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScreenState {
    /// The title.
    pub title: String,
    /// Every step.
    pub steps: Vec<StepLine>,
    /// Why the last attempt stopped, with what to fix.
    pub last_error: Option<String>,
}

impl ScreenState {
    /// Waiting for a code, nothing tried yet.
    pub fn waiting() -> Self {
        Self {
            title: "Quét mã cấu hình / Scan the setup code".into(),
            steps: Step::ALL
                .iter()
                .map(|&step| StepLine {
                    step,
                    label: step.label().into(),
                    mark: Mark::Pending,
                    detail: String::new(),
                })
                .collect(),
            last_error: None,
        }
    }

    /// Takes one step's news.
    pub fn apply(&mut self, progress: &Progress) {
        let (step, mark, detail) = match progress {
            Progress::Started(s) => (*s, Mark::Running, String::new()),
            Progress::Done(s, d) => (*s, Mark::Done, d.clone()),
            Progress::Failed(s, e) => {
                self.last_error = Some(e.clone());
                (*s, Mark::Failed, String::new())
            }
        };
        if mark == Mark::Running && step == Step::VerifyCode {
            // A new attempt: the earlier one's marks are cleared, its error kept until replaced.
            for line in &mut self.steps {
                line.mark = Mark::Pending;
                line.detail.clear();
            }
        }
        if let Some(line) = self.steps.iter_mut().find(|l| l.step == step) {
            line.mark = mark;
            line.detail = detail;
        }
        if mark == Mark::Done && step == Step::SelfTest {
            self.last_error = None;
        }
    }

    /// The state in one line (systemd's `STATUS=`).
    pub fn status_line(&self) -> String {
        let marks: String = self.steps.iter().map(|l| l.mark.symbol()).collect();
        match &self.last_error {
            Some(e) => format!("chưa cấu hình / not provisioned [{marks}]: {e}"),
            None => format!("chưa cấu hình / not provisioned [{marks}]: {}", self.title),
        }
    }

    /// The state as lines of text (a terminal, the screen's fallback).
    pub fn text(&self) -> String {
        let mut out = format!("{}\n", self.title);
        for l in &self.steps {
            out.push_str(&format!("  {} {}", l.mark.symbol(), l.label));
            if !l.detail.is_empty() {
                out.push_str(&format!(" — {}", l.detail));
            }
            out.push('\n');
        }
        if let Some(e) = &self.last_error {
            out.push_str(&format!("Lỗi / error: {e}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_follow_the_steps_and_a_new_attempt_starts_afresh() {
        let mut s = ScreenState::waiting();
        s.apply(&Progress::Started(Step::VerifyCode));
        s.apply(&Progress::Done(Step::VerifyCode, "K001".into()));
        s.apply(&Progress::Started(Step::FetchCa));
        s.apply(&Progress::Failed(Step::FetchCa, "mã không khớp CA".into()));
        assert_eq!(s.steps[0].mark, Mark::Done);
        assert_eq!(s.steps[1].mark, Mark::Failed);
        assert!(
            s.status_line().contains("[✓✗·······]"),
            "{}",
            s.status_line()
        );
        assert!(s.text().contains("mã không khớp CA"));
        s.apply(&Progress::Started(Step::VerifyCode));
        assert_eq!(s.steps[1].mark, Mark::Pending);
        assert!(s.last_error.is_some(), "kept until the next outcome");
    }
}
