//! `presence`: N users, each with R mutual contacts, change their presence
//! while their contacts stay online; every online contact must get every
//! change exactly once.
//!
//! Contacts: on a ring of the N users, user i's contacts are the R/2 users
//! on each side (i±1..i±R/2 mod N). The relation is symmetric and every
//! user has exactly R contacts, which needs R even and below N.
//!
//! Setup, over the protocol and idempotent: every user logs in (without
//! presence) and fetches its roster. A user whose contacts are all
//! `subscription='both'` and who has no other item is left alone. The
//! others stay online together and run RFC 6121 §3.1 from both ends at
//! once: become available (so stored requests are delivered, §3.1.3), and
//! for each contact not yet `both` send `subscribed` if they lack `from`
//! (it approves a pending request, is a §3.4 pre-approval on servers that
//! support it, and is ignored elsewhere) and `subscribe` if they lack
//! `to`; answer each `subscribe` from a contact with `subscribed`; remove
//! every other roster item (left by a run with other sizes, it would get
//! presence nobody expects). Roster pushes tell when all is `both`; a
//! roster get then verifies it. Users still incomplete give up once no
//! roster has changed for anyone for `--setup-timeout`.
//!
//! Measurement: all N log in with initial presence and the run waits (at
//! most `--drain`) until each has seen each online contact available. Then
//! rounds. The changers of round k are users k, k+S, k+2S, ... (mod N) with
//! S = R/2+1, ⌊N/S⌋ of them: no two are contacts, so each changer's
//! contacts are observers that stay available all round, and the expected
//! copies are exact. Over N rounds every user changes equally often. Each
//! changer sends unavailable then available presence on its session, or
//! with `--relogin` sends unavailable, closes, logs in again and sends its
//! initial presence. Each of these carries `<status>wxp RUN SEQ SENT_US</status>`:
//! a run id, the user's change number and the send time on this process's
//! monotonic clock, so receivers (same process) compute the fan-out latency
//! directly. A round ends when every expected copy has arrived (or after
//! `--drain`): rounds are closed-loop and the load grows with N (⌊N/S⌋·2R
//! copies per round), not with a rate option.
//!
//! Counting: each change of user X is expected once at every contact of X
//! whose session is alive when X sends it. A receiver counts a (sender,
//! SEQ) once, as delivered, with its latency; a copy seen before is a
//! duplicate, except the first one from each contact after the receiver
//! itself came back: that is the server answering its probe (§4.3) with
//! the contact's current presence, counted as `probe_replies`. Such an
//! answer may arrive late, after the contact's next change (rounds do not
//! wait for probe answers, which servers need not send), so it is told
//! apart by being the first seen copy since coming back, not by its SEQ.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use waxwing_xml::{Element, StreamEvent};

use super::{End, count_end, for_each_concurrent, positive};
use crate::cli::PresenceOpts;
use crate::client::{self, Connection, NS_CLIENT, Session};
use crate::failure::{Failure, FailureCounts, Step};
use crate::progress::{Counters, Progress};
use crate::stats::{Histogram, LatencyMs, round3};
use crate::target::{RunInfo, Target, seconds};

pub const NS_ROSTER: &str = "jabber:iq:roster";

/// The JSON result of `presence`.
#[derive(Debug, Clone, Serialize)]
pub struct PresenceReport {
    #[serde(flatten)]
    pub info: RunInfo,
    /// `"toggle"` (unavailable then available on the same session) or
    /// `"relogin"`.
    pub mode: &'static str,
    pub users: usize,
    pub contacts: usize,
    pub concurrency: usize,
    pub setup: SetupReport,
    /// Users logged in for the measurement.
    pub online: u64,
    pub rounds: u64,
    pub changers_per_round: usize,
    /// From the start of the first round to the end of the last.
    pub duration_s: f64,
    /// Stamped presence stanzas the changers sent.
    pub changes: u64,
    /// Copies the changers' online contacts should have received.
    pub expected: u64,
    /// Distinct copies received.
    pub delivered: u64,
    /// `delivered / duration`, across all receivers.
    pub delivered_per_sec: f64,
    /// Change sent → copy received by a contact.
    pub latency_ms: LatencyMs,
    /// `expected - delivered`.
    pub lost: u64,
    /// Copies received more than once (extra copies).
    pub duplicated: u64,
    /// Copies that arrived after a later change of the same contact.
    pub out_of_order: u64,
    /// A contact's current presence resent to a changer coming back; not
    /// counted in `delivered`.
    pub probe_replies: u64,
    /// `<presence type='error'/>` received.
    pub presence_errors: u64,
    /// Stamped presence from a user that is not a contact, or with a change
    /// number never sent.
    pub unexpected: u64,
    /// Successful logins of the measurement: the initial ones and those of
    /// `--relogin`.
    pub logins: u64,
    /// Login failures and sessions that died during the measurement.
    pub failures: BTreeMap<String, u64>,
    pub close_errors: u64,
}

/// What the roster setup found and did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SetupReport {
    /// Users whose roster was already complete.
    pub already: u64,
    /// Users whose roster this run completed (and verified).
    pub completed: u64,
    pub failed: u64,
    /// Why setups failed; their users' pairs then lose presence.
    pub failures: BTreeMap<String, u64>,
    pub duration_s: f64,
}

pub async fn run(opts: PresenceOpts) -> Result<PresenceReport, String> {
    let users = positive("--users", opts.users)?;
    let contacts = positive("--contacts", opts.contacts)?;
    if contacts % 2 != 0 || contacts >= users {
        return Err("--contacts must be even and less than --users (R/2 contacts on each side of a ring)".into());
    }
    let concurrency = positive("--concurrency", opts.concurrency)?;
    let rounds = opts.rounds.map(|r| positive("--rounds", r)).transpose()?;
    let duration = seconds("--duration", opts.duration)?;
    let drain = seconds("--drain", opts.drain)?;
    let setup_timeout = seconds("--setup-timeout", opts.setup_timeout)?;
    if rounds.is_none() && duration.is_zero() {
        return Err("--duration must be positive".into());
    }
    let target = Arc::new(Target::resolve(&opts.connect).await?);
    let ring = Ring { n: users, half: contacts / 2 };
    let names = Arc::new(Names::new(&target, users));

    let setup = setup(&target, &names, ring, concurrency, setup_timeout).await;
    if setup.failed > 0 {
        eprintln!(
            "presence setup: {} users failed; presence between them and their contacts will be lost",
            setup.failed
        );
    }

    let shared = Arc::new(Shared {
        ring,
        names: names.clone(),
        run_id: run_id(),
        base: Instant::now(),
        members: (0..users).map(|_| Member { sent: AtomicU64::new(0), alive: AtomicBool::new(false) }).collect(),
        expected: AtomicU64::new(0),
        delivered: AtomicU64::new(0),
        seen_online: AtomicU64::new(0),
        progress: Notify::new(),
    });
    let logins = {
        let target = target.clone();
        let counters = Counters::new();
        let _progress = Progress::counting("presence login", counters.clone(), users);
        for_each_concurrent(users, concurrency, move |i| {
            let (target, counters) = (target.clone(), counters.clone());
            async move {
                let result = client::login(&target, &target.user(i)).await;
                counters.finished(result.is_ok());
                result
            }
        })
        .await
    };
    let mut failures = FailureCounts::default();
    let mut sessions = Vec::new();
    for (i, result) in logins.into_iter().enumerate() {
        match result {
            Ok(session) => {
                shared.members[i].alive.store(true, Ordering::Release);
                sessions.push((i, session));
            }
            Err(f) => failures.add(&f),
        }
    }
    let online = sessions.len() as u64;
    let mut commands: Vec<Option<mpsc::Sender<oneshot::Sender<()>>>> = (0..users).map(|_| None).collect();
    let mut tasks = Vec::new();
    for (i, session) in sessions {
        let (tx, rx) = mpsc::channel(1);
        commands[i] = Some(tx);
        let user = User::new(i, session, shared.clone(), target.clone(), opts.relogin);
        tasks.push(tokio::spawn(user.run(rx)));
    }

    settle(&shared, drain).await;

    let changers_per_round = ring.changers_per_round();
    let started = Instant::now();
    let mut round = 0u64;
    {
        let progress_shared = shared.clone();
        // Delivered at the previous line, for the rate over the last second.
        let last = std::sync::Mutex::new(0u64);
        let _progress = Progress::start("presence", move |_| {
            let (expected, delivered) = progress_shared.totals();
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            let line = format!("delivered {delivered} of {expected} expected ({}/s)", delivered - *last);
            *last = delivered;
            line
        });
        loop {
            let more = match rounds {
                Some(n) => round < n as u64,
                None => started.elapsed() < duration,
            };
            if !more {
                break;
            }
            let mut done = Vec::new();
            for x in ring.changers(round) {
                let Some(tx) = &commands[x] else { continue };
                let (done_tx, done_rx) = oneshot::channel();
                if shared.members[x].alive.load(Ordering::Acquire) && tx.send(done_tx).await.is_ok() {
                    done.push(done_rx);
                }
            }
            // A changer whose session died drops its sender: nothing to wait for.
            for rx in done {
                let _ = rx.await;
            }
            shared.wait_delivered(Instant::now() + drain).await;
            round += 1;
        }
    }
    let measured = started.elapsed();

    // Closing the command channels ends the user tasks, which close their
    // sessions.
    drop(commands);
    let mut tally = Tally::default();
    let mut close_errors = 0;
    {
        let _progress = Progress::start("presence close", |_| "closing sessions".into());
        for task in tasks {
            let Ok((user_tally, end)) = task.await else { continue };
            tally.merge(&user_tally);
            count_end(end, &mut failures, &mut close_errors);
        }
    }
    let (expected, delivered) = shared.totals();
    Ok(PresenceReport {
        info: target.info.clone(),
        mode: if opts.relogin { "relogin" } else { "toggle" },
        users,
        contacts,
        concurrency,
        setup,
        online,
        rounds: round,
        changers_per_round,
        duration_s: round3(measured.as_secs_f64()),
        changes: tally.changes,
        expected,
        delivered: tally.delivered,
        delivered_per_sec: round3(tally.delivered as f64 / measured.as_secs_f64().max(1e-9)),
        latency_ms: tally.latency.summary_ms(),
        lost: expected.saturating_sub(delivered),
        duplicated: tally.duplicated,
        out_of_order: tally.out_of_order,
        probe_replies: tally.probe_replies,
        presence_errors: tally.presence_errors,
        unexpected: tally.unexpected,
        logins: online + tally.logins,
        failures: failures.0,
        close_errors: close_errors + tally.close_errors,
    })
}

/// Who is whose contact, and who changes in which round.
#[derive(Debug, Clone, Copy)]
struct Ring {
    n: usize,
    /// Contacts on each side: R/2.
    half: usize,
}

impl Ring {
    fn contacts(self, i: usize) -> impl Iterator<Item = usize> {
        (1..=self.half).flat_map(move |d| [(i + d) % self.n, (i + self.n - d) % self.n])
    }

    fn are_contacts(self, i: usize, j: usize) -> bool {
        let d = (j + self.n - i) % self.n;
        d != 0 && d.min(self.n - d) <= self.half
    }

    /// Changers are this far apart on the ring: one more than a contact.
    fn stride(self) -> usize {
        self.half + 1
    }

    fn changers_per_round(self) -> usize {
        self.n / self.stride()
    }

    /// Round k's changers: k, k+S, ..., k+(M-1)S mod N with M = ⌊N/S⌋.
    /// Neighbours are S apart, and so are the last and the first across
    /// the wrap (N - (M-1)S ≥ S), so none are contacts.
    fn changers(self, round: u64) -> impl Iterator<Item = usize> {
        let start = (round % self.n as u64) as usize;
        (0..self.changers_per_round()).map(move |m| (start + m * self.stride()) % self.n)
    }
}

/// The users' bare JIDs and the way back from a JID to a user.
#[derive(Debug)]
struct Names {
    prefix: String,
    domain: String,
    n: usize,
}

impl Names {
    fn new(target: &Target, n: usize) -> Names {
        Names { prefix: target.user_prefix.clone(), domain: target.domain.clone(), n }
    }

    fn bare(&self, i: usize) -> String {
        format!("{}{i}@{}", self.prefix, self.domain)
    }

    /// The user a (bare or full) JID belongs to. Case-insensitive, since
    /// servers send JIDs normalised (nodeprep lowercases).
    fn index(&self, jid: &str) -> Option<usize> {
        let bare = jid.split('/').next()?;
        let (local, domain) = bare.rsplit_once('@')?;
        if !domain.eq_ignore_ascii_case(&self.domain) {
            return None;
        }
        let number = local.get(..self.prefix.len()).filter(|p| p.eq_ignore_ascii_case(&self.prefix))?;
        let number = &local[number.len()..];
        // Only the canonical spelling: "u07" is not user 7.
        if number.is_empty()
            || !number.bytes().all(|b| b.is_ascii_digit())
            || (number.len() > 1 && number.starts_with('0'))
        {
            return None;
        }
        number.parse().ok().filter(|&i| i < self.n)
    }
}

// ---------------------------------------------------------------- setup

/// The subscription of a roster item, as far as setup cares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sub {
    to: bool,
    from: bool,
}

const BOTH: Sub = Sub { to: true, from: true };

/// What setup knows of one user's roster.
#[derive(Debug)]
struct RosterState {
    me: usize,
    /// Contact → subscription; no entry when there is no item.
    contacts: HashMap<usize, Sub>,
    /// Items that are not contacts, as the server spelt their JIDs.
    others: BTreeSet<String>,
}

impl RosterState {
    fn new(me: usize) -> RosterState {
        RosterState { me, contacts: HashMap::new(), others: BTreeSet::new() }
    }

    /// Takes in one `<item/>` of a roster result or push.
    fn apply(&mut self, names: &Names, ring: Ring, item: &Element) {
        let Some(jid) = item.attr("jid") else { return };
        let sub = match item.attr("subscription").unwrap_or("none") {
            "both" => Some(BOTH),
            "to" => Some(Sub { to: true, from: false }),
            "from" => Some(Sub { to: false, from: true }),
            "remove" => None,
            _ => Some(Sub::default()),
        };
        match (names.index(jid).filter(|&c| ring.are_contacts(self.me, c)), sub) {
            (Some(c), Some(sub)) => {
                self.contacts.insert(c, sub);
            }
            (Some(c), None) => {
                self.contacts.remove(&c);
            }
            (None, Some(_)) => {
                self.others.insert(jid.to_owned());
            }
            (None, None) => {
                self.others.remove(jid);
            }
        }
    }

    /// Replaces everything with a roster result's `<query/>`.
    fn reset(&mut self, names: &Names, ring: Ring, query: &Element) {
        self.contacts.clear();
        self.others.clear();
        for item in query.elements().filter(|e| e.is("item", NS_ROSTER)) {
            self.apply(names, ring, item);
        }
    }

    fn complete(&self, ring: Ring) -> bool {
        self.others.is_empty() && ring.contacts(self.me).all(|c| self.contacts.get(&c) == Some(&BOTH))
    }

    /// The stanzas that move the roster towards complete.
    fn requests(&self, names: &Names, ring: Ring) -> String {
        let mut out = String::new();
        for c in ring.contacts(self.me) {
            let sub = self.contacts.get(&c).copied().unwrap_or_default();
            let to = client::attr(&names.bare(c));
            // `subscribed` first: with pre-approval, the contact's request
            // is then approved by the server as soon as it arrives.
            if !sub.from {
                let _ = write!(out, "<presence to='{to}' type='subscribed'/>");
            }
            if !sub.to {
                let _ = write!(out, "<presence to='{to}' type='subscribe'/>");
            }
        }
        for jid in &self.others {
            let _ = write!(
                out,
                "<iq type='set' id='remove'><query xmlns='{NS_ROSTER}'><item jid='{}' subscription='remove'/></query></iq>",
                client::attr(jid)
            );
        }
        out
    }
}

/// Checks every user's roster and completes those that need it.
async fn setup(
    target: &Arc<Target>,
    names: &Arc<Names>,
    ring: Ring,
    concurrency: usize,
    patience: Duration,
) -> SetupReport {
    let started = Instant::now();
    let checked = {
        let counters = Counters::new();
        let _progress = Progress::counting("presence setup: roster check", counters.clone(), ring.n);
        let (target, names) = (target.clone(), names.clone());
        for_each_concurrent(ring.n, concurrency, move |i| {
            let (target, names, counters) = (target.clone(), names.clone(), counters.clone());
            async move {
                let result = check_roster(&target, &names, ring, i).await;
                counters.finished(result.is_ok());
                result
            }
        })
        .await
    };
    let mut report = SetupReport::default();
    let mut failures = FailureCounts::default();
    let shared = Arc::new(SetupShared {
        names: names.clone(),
        ring,
        patience,
        base: Instant::now(),
        last_push_us: AtomicU64::new(0),
        pushes: AtomicU64::new(0),
        counters: Counters::new(),
    });
    // Everyone with something to do acts at once: a request needs the
    // contact online to be answered (unless the server pre-approves).
    let mut exchanges = Vec::new();
    for result in checked {
        match result {
            Ok(None) => report.already += 1,
            Ok(Some((conn, state))) => exchanges.push(tokio::spawn(exchange(conn, state, shared.clone()))),
            Err(f) => failures.add(&f),
        }
    }
    if !exchanges.is_empty() {
        let (progress_shared, total) = (shared.clone(), exchanges.len());
        let _progress = Progress::start("presence setup: subscriptions", move |_| {
            let done = progress_shared.counters.done.load(Ordering::Relaxed);
            let failed = progress_shared.counters.failed.load(Ordering::Relaxed);
            let pushes = progress_shared.pushes.load(Ordering::Relaxed);
            format!("{done}/{total} done, {failed} failed, {pushes} roster pushes")
        });
        for exchange in exchanges {
            match exchange.await.unwrap_or(Err(Failure::Protocol("setup-task-panicked"))) {
                Ok(()) => report.completed += 1,
                Err(f) => failures.add(&f),
            }
        }
    }
    report.failed = failures.total();
    report.failures = failures.0;
    report.duration_s = round3(started.elapsed().as_secs_f64());
    report
}

/// Logs user `i` in without presence and reads its roster: `None` if it is
/// complete (the session is closed), else the session and what is missing.
async fn check_roster(
    target: &Target,
    names: &Names,
    ring: Ring,
    i: usize,
) -> Result<Option<(Connection, RosterState)>, Failure> {
    let Session { mut conn, .. } = client::login_without_presence(target, &target.user(i), &target.resource).await?;
    conn.send(format!("<iq type='get' id='roster'><query xmlns='{NS_ROSTER}'/></iq>").as_bytes(), Step::Roster).await?;
    let reply = conn.iq_reply("roster", Step::Roster).await?;
    let query = reply.get_child("query", NS_ROSTER).ok_or(Failure::Protocol("roster-result-without-query"))?;
    let mut state = RosterState::new(i);
    state.reset(names, ring, query);
    if state.complete(ring) {
        // Setup only cares about the roster; a failed close changes nothing.
        let _ = conn.close().await;
        return Ok(None);
    }
    Ok(Some((conn, state)))
}

/// Roster verifications that may find the roster incomplete (pushes said
/// otherwise, or nothing moved) before the setup of this user fails.
const MAX_VERIFICATIONS: u32 = 3;

/// What the users completing their rosters share.
struct SetupShared {
    names: Arc<Names>,
    ring: Ring,
    /// `--setup-timeout`.
    patience: Duration,
    base: Instant,
    /// When any user last got a roster push or a verification answer, in
    /// microseconds since `base`.
    last_push_us: AtomicU64,
    pushes: AtomicU64,
    counters: Arc<Counters>,
}

impl SetupShared {
    fn pushed(&self) {
        self.last_push_us.fetch_max(self.base.elapsed().as_micros() as u64, Ordering::AcqRel);
        self.pushes.fetch_add(1, Ordering::Relaxed);
    }

    /// When the setup counts as stalled for a user that last asked
    /// something itself at `mine`: no roster push to anyone, nor anything
    /// of its own, for `--setup-timeout`. Global because a server working
    /// through the stanzas of every user at once may not get to a given
    /// user for a long time, yet is not stuck while others' rosters move.
    fn stalled_at(&self, mine: Instant) -> Instant {
        let last = self.base + Duration::from_micros(self.last_push_us.load(Ordering::Acquire));
        last.max(mine) + self.patience
    }
}

/// Completes one user's roster: see the module documentation. Fails with
/// `timeout:roster` when a verification goes unanswered while nobody's
/// roster moves, and with `protocol:roster-incomplete` when rosters stop
/// moving short of complete.
async fn exchange(conn: Connection, state: RosterState, shared: Arc<SetupShared>) -> Result<(), Failure> {
    let result = exchange_until_complete(conn, state, &shared).await;
    shared.counters.finished(result.is_ok());
    result
}

async fn exchange_until_complete(
    mut conn: Connection,
    mut state: RosterState,
    shared: &SetupShared,
) -> Result<(), Failure> {
    const VERIFY: &str = "<iq type='get' id='verify'><query xmlns='jabber:iq:roster'/></iq>";
    let (names, ring) = (&*shared.names, shared.ring);
    conn.send(b"<presence/>", Step::Roster).await?;
    conn.send(state.requests(names, ring).as_bytes(), Step::Roster).await?;
    // When this user last sent something that needs an answer.
    let mut asked = Instant::now();
    let mut verifying = false;
    let mut verifications = 0;
    loop {
        while let Some(event) = conn.poll_event()? {
            let el = match event {
                StreamEvent::Stanza(el) => el,
                other => {
                    conn.handle_other(other).await?;
                    continue;
                }
            };
            if el.is("presence", NS_CLIENT) && el.attr("type") == Some("subscribe") {
                // Approve contacts only; a stranger's request stays pending.
                let from = el.attr("from").and_then(|f| names.index(f)).filter(|&c| ring.are_contacts(state.me, c));
                if let Some(c) = from {
                    let approve = format!("<presence to='{}' type='subscribed'/>", client::attr(&names.bare(c)));
                    conn.send(approve.as_bytes(), Step::Roster).await?;
                }
            } else if let Some(query) = roster_push(&el) {
                for item in query.elements().filter(|e| e.is("item", NS_ROSTER)) {
                    state.apply(names, ring, item);
                }
                // RFC 6121 §2.1.6: a client acknowledges each push.
                let ack = format!("<iq type='result' id='{}'/>", client::attr(el.attr("id").unwrap_or("")));
                conn.send(ack.as_bytes(), Step::Roster).await?;
                shared.pushed();
            } else if el.is("iq", NS_CLIENT) && el.attr("id") == Some("verify") {
                verifying = false;
                shared.pushed();
                if el.attr("type") != Some("result") {
                    return Err(Failure::Roster(client::stanza_error_condition(&el)));
                }
                let query = el.get_child("query", NS_ROSTER).ok_or(Failure::Protocol("roster-result-without-query"))?;
                state.reset(names, ring, query);
                if state.complete(ring) {
                    // Setup only cares about the roster; a failed close changes nothing.
                    let _ = conn.close().await;
                    return Ok(());
                }
                verifications += 1;
                if verifications >= MAX_VERIFICATIONS {
                    return Err(Failure::Protocol("roster-incomplete"));
                }
                // Something got lost on the way (or was ignored): ask again.
                conn.send(state.requests(names, ring).as_bytes(), Step::Roster).await?;
                asked = Instant::now();
            } else {
                conn.handle_other(StreamEvent::Stanza(el)).await?;
            }
        }
        if state.complete(ring) && !verifying {
            conn.send(VERIFY.as_bytes(), Step::Roster).await?;
            verifying = true;
            asked = Instant::now();
        }
        tokio::select! {
            read = conn.read_more(Step::Roster) => read?,
            () = tokio::time::sleep_until(shared.stalled_at(asked)) => {
                if shared.stalled_at(asked) > Instant::now() {
                    // Someone's roster moved meanwhile: keep waiting.
                    continue;
                }
                if verifying {
                    return Err(Failure::Timeout(Step::Roster));
                }
                // Nothing moved for a while: see where the roster stands.
                conn.send(VERIFY.as_bytes(), Step::Roster).await?;
                verifying = true;
                asked = Instant::now();
            }
        }
    }
}

/// The `<query/>` of a roster push (`<iq type='set'>`).
fn roster_push(el: &Element) -> Option<&Element> {
    if el.is("iq", NS_CLIENT) && el.attr("type") == Some("set") { el.get_child("query", NS_ROSTER) } else { None }
}

// ---------------------------------------------------------- measurement

/// What the coordinator and the user tasks share.
struct Shared {
    ring: Ring,
    names: Arc<Names>,
    /// Tells this run's stamps from those of earlier runs, which servers
    /// may keep (e.g. a last unavailable presence answering a probe).
    run_id: u32,
    base: Instant,
    members: Vec<Member>,
    expected: AtomicU64,
    delivered: AtomicU64,
    /// Contacts seen available at least once, summed over receivers.
    seen_online: AtomicU64,
    /// Signalled when `delivered` or `seen_online` grows.
    progress: Notify,
}

/// One user, as the others see it.
struct Member {
    /// Changes sent (raised before each is written).
    sent: AtomicU64,
    /// Logged in and not failed: its contacts' changes are expected there.
    alive: AtomicBool,
}

impl Shared {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    /// `(expected, delivered)`.
    fn totals(&self) -> (u64, u64) {
        (self.expected.load(Ordering::Acquire), self.delivered.load(Ordering::Acquire))
    }

    fn alive_contacts(&self, i: usize) -> u64 {
        self.ring.contacts(i).filter(|&c| self.members[c].alive.load(Ordering::Acquire)).count() as u64
    }

    /// Waits until every expected copy has arrived or `deadline` passes.
    async fn wait_delivered(&self, deadline: Instant) {
        loop {
            let (expected, delivered) = self.totals();
            if delivered >= expected {
                return;
            }
            tokio::select! {
                () = self.progress.notified() => {}
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}

/// Waits (at most `limit`) until every online user has seen each of its
/// online contacts available: the logins' own presence is then out of the
/// way before the first round.
async fn settle(shared: &Shared, limit: Duration) {
    let online: Vec<usize> = (0..shared.ring.n).filter(|&i| shared.members[i].alive.load(Ordering::Acquire)).collect();
    let expected: u64 = online.iter().map(|&i| shared.alive_contacts(i)).sum();
    let deadline = Instant::now() + limit;
    loop {
        let seen = shared.seen_online.load(Ordering::Acquire);
        if seen >= expected {
            return;
        }
        tokio::select! {
            () = shared.progress.notified() => {}
            () = tokio::time::sleep_until(deadline) => {
                eprintln!("presence: after {:.1}s, {seen} of {expected} contacts seen online; starting anyway", limit.as_secs_f64());
                return;
            }
        }
    }
}

/// What a user task counted.
#[derive(Debug, Default)]
struct Tally {
    latency: Histogram,
    delivered: u64,
    duplicated: u64,
    out_of_order: u64,
    probe_replies: u64,
    presence_errors: u64,
    unexpected: u64,
    changes: u64,
    /// `--relogin` logins.
    logins: u64,
    /// Sessions closed by `--relogin` whose close did not complete.
    close_errors: u64,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.latency.merge(&other.latency);
        self.delivered += other.delivered;
        self.duplicated += other.duplicated;
        self.out_of_order += other.out_of_order;
        self.probe_replies += other.probe_replies;
        self.presence_errors += other.presence_errors;
        self.unexpected += other.unexpected;
        self.changes += other.changes;
        self.logins += other.logins;
        self.close_errors += other.close_errors;
    }
}

/// What a receiver knows of the changes of one contact.
#[derive(Debug, Default)]
struct Seen {
    /// Bit set of the change numbers received.
    bits: Vec<u64>,
    highest: Option<u64>,
    /// The receiver came back and this contact's answer to its probe has
    /// not arrived yet.
    probe_pending: bool,
    /// Seen available at least once (settling).
    online: bool,
}

/// One user's session: it receives its contacts' presence and, when told,
/// changes its own.
struct User {
    me: usize,
    conn: Option<Connection>,
    shared: Arc<Shared>,
    target: Arc<Target>,
    relogin: bool,
    seen: HashMap<usize, Seen>,
    tally: Tally,
}

impl User {
    fn new(me: usize, session: Session, shared: Arc<Shared>, target: Arc<Target>, relogin: bool) -> User {
        User { me, conn: Some(session.conn), shared, target, relogin, seen: HashMap::new(), tally: Tally::default() }
    }

    /// Serves until the command channel closes, then closes the session.
    async fn run(mut self, mut commands: mpsc::Receiver<oneshot::Sender<()>>) -> (Tally, End) {
        let result = self.serve(&mut commands).await;
        let end = match (result, self.conn.take()) {
            (Err(f), _) => {
                self.shared.members[self.me].alive.store(false, Ordering::Release);
                End::Died(f)
            }
            (Ok(()), Some(conn)) => match conn.close().await {
                Ok(()) => End::Clean,
                Err(_) => End::CloseFailed,
            },
            (Ok(()), None) => End::Clean,
        };
        (self.tally, end)
    }

    async fn serve(&mut self, commands: &mut mpsc::Receiver<oneshot::Sender<()>>) -> Result<(), Failure> {
        loop {
            let conn = self.conn.as_mut().ok_or(Failure::Closed(Step::Session))?;
            while let Some(event) = conn.poll_event()? {
                match event {
                    StreamEvent::Stanza(el) if el.is("presence", NS_CLIENT) => {
                        record(self.me, &self.shared, &mut self.seen, &mut self.tally, &el);
                    }
                    other => conn.handle_other(other).await?,
                }
            }
            tokio::select! {
                read = conn.read_more(Step::Session) => read?,
                command = commands.recv() => match command {
                    None => return Ok(()),
                    Some(done) => {
                        self.change().await?;
                        let _ = done.send(());
                    }
                },
            }
        }
    }

    /// `wxp RUN SEQ SENT_US` for a new change; counts the copies expected.
    fn stamp(&mut self) -> String {
        let seq = self.shared.members[self.me].sent.fetch_add(1, Ordering::AcqRel);
        self.shared.expected.fetch_add(self.shared.alive_contacts(self.me), Ordering::AcqRel);
        self.tally.changes += 1;
        format!("wxp {} {seq} {}", self.shared.run_id, self.shared.now_us())
    }

    /// Goes unavailable and available again (or logs out and in).
    async fn change(&mut self) -> Result<(), Failure> {
        let unavailable = format!("<presence type='unavailable'><status>{}</status></presence>", self.stamp());
        let mut conn = self.conn.take().ok_or(Failure::Closed(Step::Session))?;
        if self.relogin {
            conn.send(unavailable.as_bytes(), Step::Session).await?;
            if conn.close().await.is_err() {
                self.tally.close_errors += 1;
            }
            conn = client::login_without_presence(&self.target, &self.target.user(self.me), &self.target.resource)
                .await?
                .conn;
            self.tally.logins += 1;
            self.came_back();
            let available = format!("<presence><status>{}</status></presence>", self.stamp());
            conn.send(available.as_bytes(), Step::Session).await?;
        } else {
            // Before the available presence: the probe answers come after.
            self.came_back();
            let available = format!("<presence><status>{}</status></presence>", self.stamp());
            conn.send(format!("{unavailable}{available}").as_bytes(), Step::Session).await?;
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// The next seen copy from each contact is the server's answer to this
    /// resource's probe (§4.3), not a duplicate.
    fn came_back(&mut self) {
        for c in self.shared.ring.contacts(self.me) {
            self.seen.entry(c).or_default().probe_pending = true;
        }
    }
}

/// Accounts for one presence stanza received by user `me`.
fn record(me: usize, shared: &Shared, seen: &mut HashMap<usize, Seen>, tally: &mut Tally, el: &Element) {
    let now_us = shared.now_us();
    let kind = el.attr("type");
    if kind == Some("error") {
        tally.presence_errors += 1;
        return;
    }
    if !matches!(kind, None | Some("unavailable")) {
        return;
    }
    let Some(sender) = el.attr("from").and_then(|f| shared.names.index(f)) else { return };
    // §4.2.2: a resource gets its own presence back; not a delivery.
    if sender == me {
        return;
    }
    let contact = shared.ring.are_contacts(me, sender);
    let stamp = el.get_child("status", NS_CLIENT).and_then(|s| parse_status(&s.text()));
    let Some((run, seq, sent_us)) = stamp else {
        // Unstamped: a login's initial presence, the answer to a probe
        // when the contact has not changed yet, or the server's own
        // unavailable for a closed session.
        if contact {
            let seen = seen.entry(sender).or_default();
            seen.probe_pending = false;
            if kind.is_none() && !seen.online {
                seen.online = true;
                shared.seen_online.fetch_add(1, Ordering::AcqRel);
                shared.progress.notify_one();
            }
        }
        return;
    };
    if run != shared.run_id {
        return;
    }
    // `sent` is raised before a change is written, so a number at or above
    // it was never sent (and must not make us allocate a huge bit set).
    if !contact || seq >= shared.members[sender].sent.load(Ordering::Acquire) {
        tally.unexpected += 1;
        return;
    }
    let seen = seen.entry(sender).or_default();
    let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
    if word >= seen.bits.len() {
        seen.bits.resize(word + 1, 0);
    }
    if seen.bits[word] & bit != 0 {
        if seen.probe_pending {
            seen.probe_pending = false;
            tally.probe_replies += 1;
        } else {
            tally.duplicated += 1;
        }
        return;
    }
    seen.bits[word] |= bit;
    match seen.highest {
        Some(h) if seq < h => tally.out_of_order += 1,
        _ => seen.highest = Some(seq),
    }
    tally.delivered += 1;
    tally.latency.record_us(now_us.saturating_sub(sent_us));
    shared.delivered.fetch_add(1, Ordering::AcqRel);
    shared.progress.notify_one();
}

/// `wxp RUN SEQ SENT_US` → `(RUN, SEQ, SENT_US)`.
fn parse_status(status: &str) -> Option<(u32, u64, u64)> {
    let mut words = status.split(' ');
    if words.next()? != "wxp" {
        return None;
    }
    Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?, words.next()?.parse().ok()?))
}

/// A run id unlikely to repeat between runs.
fn run_id() -> u32 {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() ^ d.as_secs() as u32);
    nanos ^ std::process::id().rotate_left(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_contacts_are_mutual_and_exactly_r() {
        for (n, r) in [(3, 2), (10, 4), (11, 10), (500, 20)] {
            let ring = Ring { n, half: r / 2 };
            for i in 0..n {
                let contacts: BTreeSet<usize> = ring.contacts(i).collect();
                assert_eq!(contacts.len(), r, "n={n} r={r} i={i}");
                assert!(!contacts.contains(&i));
                for &c in &contacts {
                    assert!(ring.are_contacts(i, c) && ring.are_contacts(c, i));
                    assert!(ring.contacts(c).any(|x| x == i));
                }
                assert_eq!((0..n).filter(|&j| ring.are_contacts(i, j)).count(), r);
            }
        }
    }

    #[test]
    fn changers_are_never_contacts_and_take_turns() {
        for (n, r) in [(3, 2), (10, 4), (11, 10), (500, 20), (23, 6)] {
            let ring = Ring { n, half: r / 2 };
            let mut turns = vec![0; n];
            for round in 0..n as u64 {
                let changers: Vec<usize> = ring.changers(round).collect();
                assert_eq!(changers.len(), ring.changers_per_round());
                assert!(!changers.is_empty());
                for (k, &a) in changers.iter().enumerate() {
                    turns[a] += 1;
                    for &b in &changers[k + 1..] {
                        assert!(a != b && !ring.are_contacts(a, b), "n={n} r={r} round {round}: {a} and {b}");
                    }
                }
            }
            // Over N rounds, everyone changes equally often.
            assert!(turns.iter().all(|&t| t == ring.changers_per_round()), "n={n} r={r}: {turns:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        let names = Names { prefix: "u".into(), domain: "localhost".into(), n: 100 };
        assert_eq!(names.index("u7@localhost"), Some(7));
        assert_eq!(names.index("U7@LocalHost/bench"), Some(7));
        assert_eq!(names.index(&names.bare(42)), Some(42));
        for other in ["u07@localhost", "u100@localhost", "x7@localhost", "u7@example.org", "u@localhost", "localhost"] {
            assert_eq!(names.index(other), None, "{other}");
        }
    }

    #[test]
    fn statuses() {
        assert_eq!(parse_status("wxp 9 12 3456"), Some((9, 12, 3456)));
        assert_eq!(parse_status("away"), None);
        assert_eq!(parse_status("wxp 9 12"), None);
    }

    #[test]
    fn roster_state_tracks_what_is_missing() {
        let names = Names { prefix: "u".into(), domain: "localhost".into(), n: 10 };
        let ring = Ring { n: 10, half: 1 };
        let mut state = RosterState::new(0);
        let item =
            |jid: &str, sub: &str| Element::new("item", NS_ROSTER).with_attr("jid", jid).with_attr("subscription", sub);
        state.apply(&names, ring, &item("u1@localhost", "both"));
        state.apply(&names, ring, &item("u9@localhost", "to"));
        state.apply(&names, ring, &item("u5@localhost", "both"));
        assert!(!state.complete(ring));
        let requests = state.requests(&names, ring);
        assert!(requests.contains("to='u9@localhost' type='subscribed'"), "{requests}");
        assert!(!requests.contains("to='u9@localhost' type='subscribe'/"), "{requests}");
        assert!(!requests.contains("u1@localhost"), "{requests}");
        assert!(requests.contains("jid='u5@localhost' subscription='remove'"), "{requests}");
        state.apply(&names, ring, &item("u9@localhost", "both"));
        state.apply(&names, ring, &item("u5@localhost", "remove"));
        assert!(state.complete(ring));
    }
}
