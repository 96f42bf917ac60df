//! Visitors' texts shared between the clicks that carry the same one. A click waits in the
//! click queue with its user agent, language and referrer until the click writer stores it;
//! under load the queue holds up to 100,000 clicks, nearly all with one of a few user agents.
//! Each with a copy of its own, the texts were half of a queued click's 280 bytes
//! (BENCHMARKS.md, twenty-first round); shared, a click holds a pointer.
//!
//! The texts seen last are kept in a small table indexed by their hash, one per slot: a text
//! found there is shared, another takes the slot. The table is bounded (its slots times the
//! longest text kept, a referrer's 2 KiB: about 1 MiB at most), costs each text of a
//! redirect one hash and one lock taken without waiting: a slot another thread holds (the
//! slot of a popular user agent, under load) is passed over and the text copied, as before.

use std::hash::BuildHasher;
use std::sync::{Arc, LazyLock, Mutex};

/// Slots in the table: room for every user agent and language of a busy hour's usual
/// visitors.
const SLOTS: usize = 512;

/// The process's table.
static RECENT: LazyLock<Table> = LazyLock::new(Table::new);

/// `text` as a shared text: the one kept for an equal text when there is one.
pub fn shared(text: &str) -> Arc<str> {
    RECENT.shared(text)
}

struct Table {
    slots: Vec<Mutex<Option<Arc<str>>>>,
    /// Seeded anew by each process, so that two common texts that happen to share a slot
    /// do not keep taking it from each other in every process.
    hasher: foldhash::fast::RandomState,
}

impl Table {
    fn new() -> Self {
        Self {
            slots: (0..SLOTS).map(|_| Mutex::new(None)).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shared(&self, text: &str) -> Arc<str> {
        let index = self.hasher.hash_one(text) as usize % SLOTS;
        let Some(Ok(mut slot)) = self.slots.get(index).map(Mutex::try_lock) else {
            return Arc::from(text);
        };
        match &*slot {
            Some(kept) if **kept == *text => kept.clone(),
            _ => {
                let fresh: Arc<str> = Arc::from(text);
                *slot = Some(fresh.clone());
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{SLOTS, Table, shared};
    use std::sync::Arc;

    #[test]
    fn equal_texts_share_one_copy_and_others_keep_their_own() {
        let table = Table::new();
        let agent = "Mozilla/5.0 (X11; Linux x86_64) kurz-shared-text-test";
        let first = table.shared(agent);
        // An equal text in a buffer of its own, as each request's header is.
        let copy: String = agent.chars().collect();
        let again = table.shared(&copy);
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second equal text is the kept one"
        );
        assert_eq!(&*again, agent);
        let other = table.shared("curl/8.5.0 kurz-shared-text-test");
        assert_eq!(&*other, "curl/8.5.0 kurz-shared-text-test");
        assert!(!Arc::ptr_eq(&first, &other));
    }

    #[test]
    fn a_text_that_takes_a_slot_is_still_itself() {
        // More texts than slots: every one comes back equal, whichever slot it took.
        let table = Table::new();
        for n in 0..(SLOTS * 3) {
            let text = format!("agent {n}");
            assert_eq!(&*table.shared(&text), text.as_str());
        }
        assert_eq!(&*shared("the process's table"), "the process's table");
    }
}
