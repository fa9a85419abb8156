//! Answering presence probes for local accounts (RFC 6121 §4.3.2).

use waxwing_core::Server;
use waxwing_jid::Jid;
use waxwing_store::Subscription;

use super::broadcast::{Show, send_presence_of};
use super::exchange;
use super::subscription::Kind;
use crate::roster::account_key;

/// `prober` asks for the presence of the local `account`.
pub(super) async fn answer(server: &Server, prober: &Jid, account: &Jid) {
    let prober_bare = prober.bare();
    if prober_bare != *account {
        let (domain, node) = account_key(account);
        let item = match server.store.roster().item(domain, node, prober_bare.as_str()).await {
            Ok(item) => item,
            Err(e) => return tracing::error!(%account, error = %e, "cannot read the roster to answer a probe"),
        };
        let subscribed =
            item.as_ref().is_some_and(|i| matches!(i.subscription, Subscription::From | Subscription::Both));
        if !subscribed {
            // §4.3.2: nothing is revealed to a prober without a subscription;
            // "unsubscribed" tells its server that its roster is out of date.
            // For an account that does not exist, not even that (§8.5.1).
            if item.is_some() || server.account_exists(account).await {
                exchange::send(server, account, &prober_bare, Kind::Unsubscribed).await;
            }
            return;
        }
    }
    // Each available resource's presence, addressed to the prober as it
    // asked (a full JID gets the answers alone); with none, unavailable.
    send_presence_of(server, account, prober, Show::Current { or_unavailable: true }).await;
}
