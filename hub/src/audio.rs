//! The call-out audio: one WAV file per distinct sentence (chime, then the sentence in
//! Vietnamese words), made on the hub with espeak-ng the first time a display asks for it and
//! kept in the hub's folder, so a number called again plays at once.
//!
//! A file is named by a hash of its language and sentence; the display gets that name in the
//! call event, and only names the hub handed out can be made (a page cannot make the hub speak
//! arbitrary text).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use motcua_domain::queue::callout::CalloutLanguage;
use sha2::{Digest, Sha256};

/// The hub's call-out files.
pub struct AudioCache {
    dir: PathBuf,
    espeak: PathBuf,
    language: CalloutLanguage,
    /// Sentences by file name, for the names handed out since the start.
    known: Mutex<HashMap<String, String>>,
    /// One synthesis at a time (espeak-ng is CPU-bound; two calls in the same second wait).
    making: Mutex<()>,
}

impl AudioCache {
    /// Files in `dir`, made with the `espeak` program in `language`.
    pub fn new(dir: PathBuf, espeak: PathBuf, language: CalloutLanguage) -> Self {
        Self {
            dir,
            espeak,
            language,
            known: Mutex::new(HashMap::new()),
            making: Mutex::new(()),
        }
    }

    /// The file name (without `.wav`) of a sentence, remembered so it can be made later.
    pub fn name_for(&self, sentence: &str) -> String {
        let lang = match self.language {
            CalloutLanguage::Vietnamese => "vi",
            CalloutLanguage::English => "en",
        };
        let digest = Sha256::digest(format!("{lang}\n{sentence}").as_bytes());
        let name = hex::encode(&digest[..16]);
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.clone(), sentence.to_owned());
        name
    }

    /// The WAV file of `name`, made now if needed; `None` for a name never handed out.
    pub fn file(&self, name: &str) -> Result<Option<PathBuf>, motcua_speech::SpeechError> {
        if name.len() != 32 || !name.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let path = self.dir.join(format!("{name}.wav"));
        let sentence = self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned();
        let Some(sentence) = sentence else {
            return Ok(path.exists().then_some(path));
        };
        let _one = self.making.lock().unwrap_or_else(|p| p.into_inner());
        if !path.exists() {
            std::fs::create_dir_all(&self.dir).map_err(|e| motcua_speech::SpeechError::Write {
                path: self.dir.clone(),
                source: e,
            })?;
            let started = std::time::Instant::now();
            let info = motcua_speech::Espeak::with_program(self.espeak.clone()).synthesize_wav(
                &sentence,
                self.language,
                true,
                &path,
            )?;
            tracing::info!(
                file = %path.display(),
                seconds = info.duration.as_secs_f32(),
                took_ms = started.elapsed().as_millis() as u64,
                "call-out audio made"
            );
        }
        Ok(Some(path))
    }
}
