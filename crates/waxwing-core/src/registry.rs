//! The session registry: which full JIDs are bound, and how to reach them.
//!
//! It is read on every routed stanza, so it is a sharded map (no global lock
//! on the hot path) from bare JID to that account's bound resources. A
//! handle is a bounded queue into the session's task plus a kill switch.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use dashmap::DashMap;
use tokio::sync::{Notify, mpsc};
use waxwing_jid::Jid;
use waxwing_proto::StreamError;
use waxwing_xml::Element;

use crate::stream_management::Takeover;

/// What a session's task is asked to write.
///
/// Boxed: the queue allocates its slots in blocks of 32, so the slot size is
/// paid per session even when the queue is empty.
#[derive(Debug)]
pub enum Outbound {
    Stanza(Box<Element>),
}

/// Why sending to a session failed.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The session is gone.
    Closed,
    /// Its queue is full: the client reads too slowly. The session has been
    /// told to close; the stanza was not queued.
    Full,
}

/// A stanza that could not be queued, handed back so the caller can bounce
/// it without having cloned it beforehand.
#[derive(Debug, PartialEq, Eq)]
pub struct Undelivered {
    pub reason: SendError,
    pub stanza: Element,
}

/// Ends a session from outside its task, with a stream error.
#[derive(Debug, Default)]
pub struct KillSwitch {
    reason: OnceLock<StreamError>,
    notify: Notify,
    /// Write what is already queued before the stream error.
    flush_first: AtomicBool,
}

impl KillSwitch {
    /// The first reason wins; later kills are no-ops.
    pub fn kill(&self, reason: StreamError) {
        if self.reason.set(reason).is_ok() {
            self.notify.notify_one();
        }
    }

    /// Like [`KillSwitch::kill`], but the session first writes the stanzas
    /// already queued (an answer that must reach the client before its
    /// stream ends, such as the result of an XEP-0077 account removal).
    pub fn kill_after_queued(&self, reason: StreamError) {
        if self.reason.get().is_none() {
            self.flush_first.store(true, Ordering::SeqCst);
        }
        self.kill(reason);
    }

    /// Whether the session should write its queue before closing.
    pub fn flushes_queue(&self) -> bool {
        self.flush_first.load(Ordering::SeqCst)
    }

    pub async fn killed(&self) -> StreamError {
        loop {
            if let Some(reason) = self.reason.get() {
                return reason.clone();
            }
            self.notify.notified().await;
        }
    }
}

/// A cheap, clonable way to reach one bound session.
#[derive(Debug, Clone)]
pub struct SessionHandle {
    id: u64,
    queue: mpsc::Sender<Outbound>,
    kill: Arc<KillSwitch>,
}

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

impl SessionHandle {
    /// A handle and the receiving end of its queue.
    pub fn new(queue_len: usize) -> (SessionHandle, mpsc::Receiver<Outbound>, Arc<KillSwitch>) {
        let (queue, rx) = mpsc::channel(queue_len);
        let kill = Arc::new(KillSwitch::default());
        let id = NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed);
        (SessionHandle { id, queue, kill: kill.clone() }, rx, kill)
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    /// Queues a stanza without waiting: the router must never block on one
    /// slow client. A full queue is a policy decision (DESIGN.md,
    /// Concurrency): the slow session is closed rather than grown unbounded.
    pub fn send(&self, stanza: Element) -> Result<(), Undelivered> {
        match self.queue.try_send(Outbound::Stanza(Box::new(stanza))) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(Outbound::Stanza(stanza))) => {
                Err(Undelivered { reason: SendError::Closed, stanza: *stanza })
            }
            Err(mpsc::error::TrySendError::Full(Outbound::Stanza(stanza))) => {
                self.kill(StreamError::with_text(
                    waxwing_proto::StreamErrorCondition::PolicyViolation,
                    "outbound queue full: the client is not reading",
                ));
                Err(Undelivered { reason: SendError::Full, stanza: *stanza })
            }
        }
    }

    pub fn kill(&self, reason: StreamError) {
        self.kill.kill(reason);
    }

    /// Ends the session with `reason` once it has written what is queued now.
    pub fn close_after_queued(&self, reason: StreamError) {
        self.kill.kill_after_queued(reason);
    }
}

struct BoundResource {
    /// Kept whole (already prepared) so that listing an account's resources,
    /// on every bare-JID delivery and presence broadcast, never prepares it again.
    full: Jid,
    handle: SessionHandle,
    /// RFC 6121 §4: the last available presence the resource broadcast, or
    /// `None` while it is not available (before initial presence, after
    /// unavailable). Kept here because routing (§8.5) needs it too.
    presence: Option<Arc<Element>>,
    priority: i8,
    /// RFC 6121 §2.1.6: an "interested resource" has requested the roster and
    /// so receives roster pushes.
    interested: bool,
    /// XEP-0198: its connection is gone and it waits to be resumed; what is
    /// queued to it is not being read.
    hibernating: bool,
}

/// What the registry knows about one bound resource of an account.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub full: Jid,
    pub handle: SessionHandle,
    pub presence: Option<Arc<Element>>,
    pub priority: i8,
    pub interested: bool,
}

impl ResourceInfo {
    pub fn is_available(&self) -> bool {
        self.presence.is_some()
    }
}

impl BoundResource {
    fn resource(&self) -> &str {
        self.full.resource().expect("bound JIDs are full")
    }

    fn info(&self) -> ResourceInfo {
        ResourceInfo {
            full: self.full.clone(),
            handle: self.handle.clone(),
            presence: self.presence.clone(),
            priority: self.priority,
            interested: self.interested,
        }
    }
}

/// A session that lost its full JID to a new one (see [`SessionRegistry::bind`]).
pub struct Replaced {
    pub handle: SessionHandle,
    pub presence: Option<Arc<Element>>,
}

/// Where a resumable session (XEP-0198 §5) takes new connections in.
struct ResumeSlot {
    /// The session's account: only it may resume the session.
    account: Jid,
    takeovers: mpsc::Sender<Takeover>,
}

/// Most ended resumable sessions whose count is remembered (see
/// [`SessionRegistry::remember_ended`]): a few megabytes at most.
const MAX_ENDED: usize = 10_000;

/// The handled-stanza counts of resumable sessions that ended, oldest first.
#[derive(Default)]
struct EndedCounts {
    by_id: HashMap<String, (Jid, u32)>,
    order: VecDeque<String>,
}

#[derive(Default)]
pub struct SessionRegistry {
    accounts: DashMap<Jid, Vec<BoundResource>>,
    /// Resumable sessions by resumption id (XEP-0198 `<enabled id=…/>`).
    resumable: DashMap<String, ResumeSlot>,
    /// How many bound resources are hibernating: lets hooks skip the
    /// per-resource check in the usual case of none.
    hibernating: AtomicUsize,
    /// Rarely touched (when a resumable session ends, or a late `<resume/>`
    /// arrives): a plain lock will do.
    ended: Mutex<EndedCounts>,
}

impl SessionRegistry {
    pub fn new() -> SessionRegistry {
        SessionRegistry::default()
    }

    /// Binds `full`. If a session already holds that full JID it is returned,
    /// unregistered, with the presence it was available with, so the caller
    /// can close it with `conflict` (RFC 6120 §7.7.2.2: we let the new session
    /// win, as most servers do) and tell its contacts it left.
    pub fn bind(&self, full: &Jid, handle: SessionHandle) -> Option<Replaced> {
        assert!(full.resource().is_some(), "bind needs a full JID");
        let mut entry = self.accounts.entry(full.bare()).or_default();
        let fresh = BoundResource {
            full: full.clone(),
            handle,
            presence: None,
            priority: 0,
            interested: false,
            hibernating: false,
        };
        if let Some(existing) = entry.iter_mut().find(|b| b.full == fresh.full) {
            let old = std::mem::replace(existing, fresh);
            self.forget_hibernating(&old);
            return Some(Replaced { handle: old.handle, presence: old.presence });
        }
        entry.push(fresh);
        None
    }

    /// Removes `full` if it is still bound to the session `id` (a replaced
    /// session must not unbind its replacement). Returns the presence it was
    /// last available with.
    pub fn unbind(&self, full: &Jid, id: u64) -> Option<Arc<Element>> {
        let resource = full.resource()?;
        let bare = full.bare();
        let (presence, now_empty) = match self.accounts.get_mut(&bare) {
            Some(mut entry) => {
                let position = entry.iter().position(|b| b.resource() == resource && b.handle.id == id);
                let removed = position.map(|i| entry.remove(i));
                removed.iter().for_each(|b| self.forget_hibernating(b));
                let presence = removed.and_then(|b| b.presence);
                (presence, entry.is_empty())
            }
            None => (None, false),
        };
        if now_empty {
            self.accounts.remove_if(&bare, |_, v| v.is_empty());
        }
        presence
    }

    /// Records the resource's presence (`None`: unavailable) and priority.
    /// Returns whether it was available before, or `None` if not bound.
    pub fn set_presence(&self, full: &Jid, presence: Option<Element>, priority: i8) -> Option<bool> {
        self.with_resource(full, |b| {
            let was = b.presence.is_some();
            b.presence = presence.map(Arc::new);
            b.priority = priority;
            was
        })
    }

    /// Marks the resource as interested in roster pushes.
    pub fn set_interested(&self, full: &Jid) {
        self.with_resource(full, |b| b.interested = true);
    }

    fn with_resource<T>(&self, full: &Jid, f: impl FnOnce(&mut BoundResource) -> T) -> Option<T> {
        let resource = full.resource()?;
        let mut entry = self.accounts.get_mut(&full.bare())?;
        entry.iter_mut().find(|b| b.resource() == resource).map(f)
    }

    /// One bound resource's state.
    pub fn info(&self, full: &Jid) -> Option<ResourceInfo> {
        let resource = full.resource()?;
        let entry = self.accounts.get(&full.bare())?;
        entry.iter().find(|b| b.resource() == resource).map(BoundResource::info)
    }

    /// Every bound resource of an account, with its state.
    pub fn infos(&self, bare: &Jid) -> Vec<ResourceInfo> {
        match self.accounts.get(bare) {
            Some(entry) => entry.iter().map(BoundResource::info).collect(),
            None => Vec::new(),
        }
    }

    pub fn get(&self, full: &Jid) -> Option<SessionHandle> {
        let resource = full.resource()?;
        let entry = self.accounts.get(&full.bare())?;
        entry.iter().find(|b| b.resource() == resource).map(|b| b.handle.clone())
    }

    /// Every bound session (for shutdown and admin listings).
    pub fn all(&self) -> Vec<(Jid, SessionHandle)> {
        let mut out = Vec::new();
        for entry in self.accounts.iter() {
            out.extend(entry.value().iter().map(|b| (b.full.clone(), b.handle.clone())));
        }
        out
    }

    /// Marks the session `id` bound to `full` as hibernating (XEP-0198) or
    /// back in service.
    pub(crate) fn set_hibernating(&self, full: &Jid, id: u64, hibernating: bool) {
        let changed = self.with_resource(full, |b| {
            let changed = b.handle.id == id && b.hibernating != hibernating;
            if changed {
                b.hibernating = hibernating;
            }
            changed
        });
        if changed == Some(true) {
            if hibernating {
                self.hibernating.fetch_add(1, Ordering::Relaxed);
            } else {
                self.hibernating.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn forget_hibernating(&self, removed: &BoundResource) {
        if removed.hibernating {
            self.hibernating.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether the session bound to `full` is hibernating: its client is
    /// not connected, and what is queued to it waits for a resumption.
    pub fn is_hibernating(&self, full: &Jid) -> bool {
        self.with_resource(full, |b| b.hibernating).unwrap_or(false)
    }

    /// Whether any session is hibernating (cheap: one atomic read).
    pub fn any_hibernating(&self) -> bool {
        self.hibernating.load(Ordering::Relaxed) > 0
    }

    /// Makes a session resumable under `id` until [`SessionRegistry::forget_resumption`].
    pub(crate) fn offer_resumption(&self, id: String, account: Jid, takeovers: mpsc::Sender<Takeover>) {
        self.resumable.insert(id, ResumeSlot { account, takeovers });
    }

    /// Where to send a takeover of the session resumable under `id`, if
    /// there is one and it belongs to `account` (bare JID).
    pub(crate) fn resumption(&self, id: &str, account: &Jid) -> Option<mpsc::Sender<Takeover>> {
        let slot = self.resumable.get(id)?;
        (slot.account == *account).then(|| slot.takeovers.clone())
    }

    pub(crate) fn forget_resumption(&self, id: &str) {
        self.resumable.remove(id);
    }

    /// Remembers how many stanzas a resumable session that ended had handled,
    /// so that a client trying to resume it late learns which of its
    /// unacknowledged stanzas need not be sent again (XEP-0198 §5,
    /// `<failed h=…/>`). The oldest are forgotten first.
    pub(crate) fn remember_ended(&self, id: String, account: Jid, handled: u32) {
        let mut ended = self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        while ended.by_id.len() >= MAX_ENDED {
            let Some(oldest) = ended.order.pop_front() else { break };
            ended.by_id.remove(&oldest);
        }
        if ended.order.len() >= 2 * MAX_ENDED {
            // Ids already taken linger in `order`; drop them now and then.
            let EndedCounts { by_id, order } = &mut *ended;
            order.retain(|id| by_id.contains_key(id));
        }
        ended.order.push_back(id.clone());
        ended.by_id.insert(id, (account, handled));
    }

    /// The count remembered for the ended session `id` of `account`, once.
    pub(crate) fn take_ended(&self, id: &str, account: &Jid) -> Option<u32> {
        let mut ended = self.ended.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match ended.by_id.get(id) {
            Some((owner, handled)) if owner == account => {
                let handled = *handled;
                ended.by_id.remove(id);
                Some(handled)
            }
            _ => None,
        }
    }

    pub fn len(&self) -> usize {
        self.accounts.iter().map(|e| e.value().len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jid(s: &str) -> Jid {
        Jid::parse(s).unwrap()
    }

    #[test]
    fn rebinding_replaces_and_stale_unbind_is_ignored() {
        let reg = SessionRegistry::new();
        let (a, _rx_a, _) = SessionHandle::new(4);
        let (b, _rx_b, _) = SessionHandle::new(4);
        assert!(reg.bind(&jid("u@x/r"), a.clone()).is_none());
        let replaced = reg.bind(&jid("u@x/r"), b.clone()).unwrap();
        assert_eq!(replaced.handle.id(), a.id());
        reg.unbind(&jid("u@x/r"), a.id());
        assert_eq!(reg.get(&jid("u@x/r")).unwrap().id(), b.id());
        reg.unbind(&jid("u@x/r"), b.id());
        assert!(reg.get(&jid("u@x/r")).is_none());
        assert!(reg.is_empty());
    }

    #[test]
    fn hibernation_is_counted_until_resumed_replaced_or_unbound() {
        let reg = SessionRegistry::new();
        let (a, _rx_a, _) = SessionHandle::new(4);
        let (b, _rx_b, _) = SessionHandle::new(4);
        let full = jid("u@x/r");
        reg.bind(&full, a.clone());
        // Only the session that holds the JID can mark it.
        reg.set_hibernating(&full, b.id(), true);
        assert!(!reg.any_hibernating());
        reg.set_hibernating(&full, a.id(), true);
        reg.set_hibernating(&full, a.id(), true);
        assert!(reg.is_hibernating(&full) && reg.any_hibernating());
        reg.set_hibernating(&full, a.id(), false);
        assert!(!reg.any_hibernating());
        reg.set_hibernating(&full, a.id(), true);
        reg.bind(&full, b.clone());
        assert!(!reg.any_hibernating() && !reg.is_hibernating(&full), "replaced");
        reg.set_hibernating(&full, b.id(), true);
        reg.unbind(&full, b.id());
        assert!(!reg.any_hibernating(), "unbound");
    }

    #[test]
    fn ended_counts_are_told_once_and_only_to_their_account() {
        let reg = SessionRegistry::new();
        reg.remember_ended("id1".into(), jid("u@x"), 7);
        assert_eq!(reg.take_ended("id1", &jid("v@x")), None);
        assert_eq!(reg.take_ended("id1", &jid("u@x")), Some(7));
        assert_eq!(reg.take_ended("id1", &jid("u@x")), None);
        for n in 0..MAX_ENDED + 5 {
            reg.remember_ended(format!("n{n}"), jid("u@x"), n as u32);
        }
        assert_eq!(reg.take_ended("n0", &jid("u@x")), None, "the oldest are forgotten");
        assert_eq!(reg.take_ended(&format!("n{}", MAX_ENDED + 4), &jid("u@x")), Some(MAX_ENDED as u32 + 4));
    }

    #[test]
    fn full_queue_kills_the_session() {
        let (h, _rx, kill) = SessionHandle::new(1);
        let el = Element::new("message", "jabber:client");
        assert_eq!(h.send(el.clone()), Ok(()));
        assert_eq!(h.send(el).map_err(|u| u.reason), Err(SendError::Full));
        assert!(kill.reason.get().is_some());
    }
}
