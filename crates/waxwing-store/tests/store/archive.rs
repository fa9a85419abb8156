//! Archive (XEP-0313) behaviour every backend must show; run through the
//! `conformance!` list in `main.rs`.

use waxwing_store::{ArchiveFilter, NewArchived, Page};

use crate::support::TestDb;

const DOMAIN: &str = "example.org";

fn entry(user: &str, id: &str, stamp: i64, with: &str, body: &str) -> NewArchived {
    NewArchived {
        domain: DOMAIN.into(),
        localpart: user.into(),
        stanza_id: id.into(),
        stamp,
        with_bare: with.into(),
        with_resource: String::new(),
        stanza: format!("<message><body>{body}</body></message>"),
        body: body.into(),
    }
}

async fn ids(db: &TestDb, filter: &ArchiveFilter, page: Page, max: usize) -> Vec<String> {
    let page = db.store.archive().query(DOMAIN, "juliet", filter, &page, max).await.unwrap().expect("known ids");
    page.items.into_iter().map(|a| a.stanza_id).collect()
}

/// Ten messages for juliet: m0..m9, one second apart, alternately with romeo
/// and with the nurse.
async fn ten(db: &TestDb) {
    for user in ["juliet", "romeo"] {
        db.store.accounts().create(DOMAIN, user, &[]).await.unwrap();
    }
    let batch: Vec<NewArchived> = (0..10)
        .map(|i| {
            let with = if i % 2 == 0 { "romeo@example.org" } else { "nurse@example.org" };
            entry("juliet", &format!("m{i}"), 1000 + i, with, &format!("text {i}"))
        })
        .collect();
    assert_eq!(db.store.archive().append(&batch).await.unwrap(), 10);
    // Another account's message never shows in juliet's results.
    db.store.archive().append(&[entry("romeo", "r0", 1000, "juliet@example.org", "text 0")]).await.unwrap();
}

pub async fn archive_paging(db: &TestDb) {
    ten(db).await;
    let archive = db.store.archive();
    let all = ArchiveFilter::default();

    let first = archive.query(DOMAIN, "juliet", &all, &Page::After(None), 4).await.unwrap().unwrap();
    let got: Vec<&str> = first.items.iter().map(|a| a.stanza_id.as_str()).collect();
    assert_eq!(got, ["m0", "m1", "m2", "m3"]);
    assert_eq!((first.complete, first.count, first.first_index), (false, 10, Some(0)));
    assert_eq!(first.items[1].stamp, 1001);
    assert_eq!(first.items[1].stanza, "<message><body>text 1</body></message>");

    let next = archive.query(DOMAIN, "juliet", &all, &Page::After(Some("m3".into())), 4).await.unwrap().unwrap();
    assert_eq!(next.first_index, Some(4));
    let last = archive.query(DOMAIN, "juliet", &all, &Page::After(Some("m7".into())), 4).await.unwrap().unwrap();
    assert_eq!(last.items.len(), 2);
    assert!(last.complete);

    // Backward paging: the newest page first, each page oldest first.
    let tail = archive.query(DOMAIN, "juliet", &all, &Page::Before(None), 3).await.unwrap().unwrap();
    let got: Vec<&str> = tail.items.iter().map(|a| a.stanza_id.as_str()).collect();
    assert_eq!(got, ["m7", "m8", "m9"]);
    assert_eq!((tail.complete, tail.first_index), (false, Some(7)));
    assert_eq!(ids(db, &all, Page::Before(Some("m2".into())), 3).await, ["m0", "m1"]);
    let head = archive.query(DOMAIN, "juliet", &all, &Page::Before(Some("m2".into())), 3).await.unwrap().unwrap();
    assert!(head.complete);

    // Exactly `max` left: complete, since nothing lies beyond.
    assert!(archive.query(DOMAIN, "juliet", &all, &Page::After(Some("m5".into())), 4).await.unwrap().unwrap().complete);
    // Ids from another account's archive or nowhere: None (item-not-found).
    assert!(archive.query(DOMAIN, "juliet", &all, &Page::After(Some("r0".into())), 4).await.unwrap().is_none());
    let unknown = ArchiveFilter { after_id: Some("nope".into()), ..ArchiveFilter::default() };
    assert!(archive.query(DOMAIN, "juliet", &unknown, &Page::After(None), 4).await.unwrap().is_none());
    // max 0: only the count (XEP-0059 §2.6).
    let empty = archive.query(DOMAIN, "juliet", &all, &Page::After(None), 0).await.unwrap().unwrap();
    assert_eq!((empty.items.len(), empty.count, empty.complete), (0, 10, false));
    // No such account: empty, complete.
    let none = archive.query(DOMAIN, "tybalt", &all, &Page::After(None), 4).await.unwrap().unwrap();
    assert_eq!((none.items.len(), none.count, none.complete), (0, 0, true));
}

pub async fn archive_filters(db: &TestDb) {
    ten(db).await;
    let romeo = ArchiveFilter { with: Some(("romeo@example.org".into(), None)), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &romeo, Page::After(None), 3).await, ["m0", "m2", "m4"]);
    assert_eq!(ids(db, &romeo, Page::After(Some("m4".into())), 10).await, ["m6", "m8"]);
    let resource =
        ArchiveFilter { with: Some(("romeo@example.org".into(), Some("orchard".into()))), ..ArchiveFilter::default() };
    assert!(ids(db, &resource, Page::After(None), 10).await.is_empty());

    let window = ArchiveFilter { start: Some(1003), end: Some(1005), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &window, Page::After(None), 10).await, ["m3", "m4", "m5"]);

    let range = ArchiveFilter { after_id: Some("m2".into()), before_id: Some("m6".into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &range, Page::After(None), 10).await, ["m3", "m4", "m5"]);
    assert_eq!(ids(db, &range, Page::Before(None), 2).await, ["m4", "m5"]);

    let some = ArchiveFilter { ids: Some(vec!["m9".into(), "m1".into(), "r0".into()]), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &some, Page::After(None), 10).await, ["m1", "m9"]);
    let page = db.store.archive().query(DOMAIN, "juliet", &some, &Page::After(None), 10).await.unwrap().unwrap();
    assert_eq!(page.count, 2);
}

pub async fn archive_fulltext(db: &TestDb) {
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    let bodies = ["Crème brûlée tonight?", "CREME fraiche", "Ñandú sighted", "nothing here", ""];
    let batch: Vec<NewArchived> = bodies
        .iter()
        .enumerate()
        .map(|(i, b)| entry("juliet", &format!("m{i}"), 1000, "romeo@example.org", b))
        .collect();
    db.store.archive().append(&batch).await.unwrap();
    let search = |text: &str| ArchiveFilter { fulltext: Some(text.into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &search("creme"), Page::After(None), 10).await, ["m0", "m1"]);
    assert_eq!(ids(db, &search("CRÈME"), Page::After(None), 10).await, ["m0", "m1"]);
    assert_eq!(ids(db, &search("BRULEE"), Page::After(None), 10).await, ["m0"]);
    assert_eq!(ids(db, &search("nandu"), Page::After(None), 10).await, ["m2"]);
    // Every word must occur.
    assert_eq!(ids(db, &search("crème tonight"), Page::After(None), 10).await, ["m0"]);
    assert!(ids(db, &search("creme nothing"), Page::After(None), 10).await.is_empty());
    // Query syntax of either backend is plain text here.
    assert_eq!(ids(db, &search("\"creme\" OR* (fraiche) & !x"), Page::After(None), 10).await, Vec::<String>::new());
    assert_eq!(ids(db, &search("\"creme\" (fraiche)"), Page::After(None), 10).await, ["m1"]);
    // Combined with other criteria and paging.
    let both =
        ArchiveFilter { fulltext: Some("creme".into()), before_id: Some("m1".into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &both, Page::After(None), 10).await, ["m0"]);
}

pub async fn archive_retention(db: &TestDb) {
    ten(db).await;
    let archive = db.store.archive();
    assert_eq!(archive.trim(DOMAIN, "juliet", 6).await.unwrap(), 4);
    assert_eq!(ids(db, &ArchiveFilter::default(), Page::After(None), 10).await, ["m4", "m5", "m6", "m7", "m8", "m9"]);
    assert_eq!(archive.trim(DOMAIN, "juliet", 6).await.unwrap(), 0);
    // Trimmed messages are gone from the full-text index too.
    let text = ArchiveFilter { fulltext: Some("text".into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &text, Page::After(None), 10).await.len(), 6);

    // Before 1007: m4..m6 of juliet and romeo's r0.
    assert_eq!(archive.prune_older_than(1007).await.unwrap(), 4);
    assert_eq!(ids(db, &ArchiveFilter::default(), Page::After(None), 10).await, ["m7", "m8", "m9"]);
    assert_eq!(archive.count(DOMAIN, "romeo").await.unwrap(), 0);

    let bounds = archive.bounds(DOMAIN, "juliet").await.unwrap().unwrap();
    assert_eq!((bounds.first, bounds.last), (("m7".to_owned(), 1007), ("m9".to_owned(), 1009)));
    assert!(archive.bounds(DOMAIN, "romeo").await.unwrap().is_none());
}

pub async fn archive_removed_with_account(db: &TestDb) {
    ten(db).await;
    assert_eq!(db.count_rows("archive").await, 11);
    assert!(db.store.accounts().remove(DOMAIN, "juliet").await.unwrap());
    assert_eq!(db.count_rows("archive").await, 1);
    // A batch naming a missing account stores the rest.
    let batch = [entry("juliet", "x", 1, "romeo@example.org", "x"), entry("romeo", "y", 1, "n@example.org", "y")];
    assert_eq!(db.store.archive().append(&batch).await.unwrap(), 1);
    db.store.accounts().create(DOMAIN, "juliet", &[]).await.unwrap();
    assert_eq!(db.store.archive().count(DOMAIN, "juliet").await.unwrap(), 0);
    let text = ArchiveFilter { fulltext: Some("text".into()), ..ArchiveFilter::default() };
    assert!(ids(db, &text, Page::After(None), 10).await.is_empty());
}

/// A batch larger than one INSERT statement, mixing accounts (one missing):
/// every entry of an existing account is stored, in batch order.
pub async fn archive_large_batch(db: &TestDb) {
    for user in ["juliet", "romeo"] {
        db.store.accounts().create(DOMAIN, user, &[]).await.unwrap();
    }
    let batch: Vec<NewArchived> = (0..700)
        .map(|i| {
            let user = ["juliet", "romeo", "tybalt"][i % 3];
            entry(user, &format!("b{i}"), 1000, "nurse@example.org", &format!("word{i} common"))
        })
        .collect();
    let expected_juliet: Vec<String> = (0..700).filter(|i| i % 3 == 0).map(|i| format!("b{i}")).collect();
    // Half through a writer with its own connection, which other
    // operations must not disturb.
    let mut writer = db.store.archive_writer();
    assert_eq!(writer.append(&batch[..350]).await.unwrap(), 234);
    assert_eq!(db.store.archive().count(DOMAIN, "juliet").await.unwrap(), 117);
    assert_eq!(writer.append(&batch[350..]).await.unwrap(), 233);
    assert_eq!(ids(db, &ArchiveFilter::default(), Page::After(None), 1000).await, expected_juliet);
    let one = ArchiveFilter { fulltext: Some("word699".into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &one, Page::After(None), 10).await, ["b699"]);
    let common = ArchiveFilter { fulltext: Some("COMMON".into()), ..ArchiveFilter::default() };
    assert_eq!(ids(db, &common, Page::After(None), 1000).await.len(), expected_juliet.len());
}
