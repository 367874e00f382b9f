//! Satisfaction ratings at the counter (Decree 61/2018 art. 29; Circular 01/2018 art. 13–14).
//!
//! A province shows either a 5-level or a 3-level scale; each level maps to the 2/1/0 indicator
//! score the provincial scoring (Decision 766/QĐ-TTg) consumes. One rating per transaction is
//! enforced by the store and the gateway, not here.

use serde::{Deserialize, Serialize};

/// The scale shown to citizens, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum RatingScale {
    /// Hài lòng / Bình thường / Không hài lòng.
    Three,
    /// Rất hài lòng … Rất không hài lòng.
    Five,
}

/// A level or scale that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RatingError {
    /// Only 3- and 5-level scales are in use.
    #[error("a rating scale has 3 or 5 levels, not {0}")]
    BadScale(u8),
    /// The chosen level is not on the scale.
    #[error("level {level} is not on a {levels}-level scale")]
    BadLevel {
        /// The level given.
        level: u8,
        /// Levels of the scale.
        levels: u8,
    },
}

impl TryFrom<u8> for RatingScale {
    type Error = RatingError;
    fn try_from(levels: u8) -> Result<Self, Self::Error> {
        match levels {
            3 => Ok(Self::Three),
            5 => Ok(Self::Five),
            n => Err(RatingError::BadScale(n)),
        }
    }
}

impl From<RatingScale> for u8 {
    fn from(scale: RatingScale) -> u8 {
        scale.levels()
    }
}

const FIVE_VI: [&str; 5] = [
    "Rất hài lòng",
    "Hài lòng",
    "Bình thường",
    "Không hài lòng",
    "Rất không hài lòng",
];
const FIVE_EN: [&str; 5] = [
    "Very satisfied",
    "Satisfied",
    "Neutral",
    "Dissatisfied",
    "Very dissatisfied",
];
const THREE_VI: [&str; 3] = ["Hài lòng", "Bình thường", "Không hài lòng"];
const THREE_EN: [&str; 3] = ["Satisfied", "Neutral", "Dissatisfied"];

impl RatingScale {
    /// Number of levels.
    pub fn levels(self) -> u8 {
        match self {
            Self::Three => 3,
            Self::Five => 5,
        }
    }

    /// Vietnamese labels, best first.
    pub fn labels_vi(self) -> &'static [&'static str] {
        match self {
            Self::Three => &THREE_VI,
            Self::Five => &FIVE_VI,
        }
    }

    /// English labels, best first.
    pub fn labels_en(self) -> &'static [&'static str] {
        match self {
            Self::Three => &THREE_EN,
            Self::Five => &FIVE_EN,
        }
    }

    /// The indicator score (2 satisfied, 1 neutral, 0 dissatisfied) of a level (1 = best).
    ///
    /// On the 5-level scale both "satisfied" levels score 2 and both "dissatisfied" levels 0,
    /// as the circular's indicators only distinguish three outcomes.
    pub fn score(self, level: u8) -> Result<u8, RatingError> {
        let levels = self.levels();
        if level == 0 || level > levels {
            return Err(RatingError::BadLevel { level, levels });
        }
        Ok(match (self, level) {
            (Self::Three, 1) | (Self::Five, 1 | 2) => 2,
            (Self::Three, 2) | (Self::Five, 3) => 1,
            _ => 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_level_scale_maps_to_circular_scores() {
        let s = RatingScale::Five;
        let scores: Vec<u8> = (1..=5).map(|l| s.score(l).unwrap()).collect();
        assert_eq!(scores, vec![2, 2, 1, 0, 0]);
        assert_eq!(
            s.score(0),
            Err(RatingError::BadLevel {
                level: 0,
                levels: 5
            })
        );
        assert_eq!(
            s.score(6),
            Err(RatingError::BadLevel {
                level: 6,
                levels: 5
            })
        );
        assert_eq!(s.labels_vi().len(), 5);
    }

    #[test]
    fn three_level_scale_maps_to_circular_scores() {
        let s = RatingScale::try_from(3).unwrap();
        let scores: Vec<u8> = (1..=3).map(|l| s.score(l).unwrap()).collect();
        assert_eq!(scores, vec![2, 1, 0]);
        assert!(s.score(4).is_err());
        assert_eq!(RatingScale::try_from(4), Err(RatingError::BadScale(4)));
    }
}
