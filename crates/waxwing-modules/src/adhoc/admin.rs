//! XEP-0133 Service Administration: the commands an administrator runs on
//! the server's accounts. Each acts on the domain the command was sent to.

use waxwing_core::HookFuture;
use waxwing_jid::Jid;
use waxwing_proto::{StanzaError, StanzaErrorCondition, ns};
use waxwing_store::StoreError;
use waxwing_xml::Element;

use super::form::{self, Submitted};
use super::{Command, Completed, Context};
use crate::register::{create_account, derive_credentials};

/// The `FORM_TYPE` of every XEP-0133 form (§8.2).
pub const NS_ADMIN: &str = "http://jabber.org/protocol/admin";

pub(super) fn commands(iterations: u32) -> Vec<Box<dyn Command>> {
    vec![
        Box::new(AddUser { iterations }),
        Box::new(DeleteUser),
        Box::new(ChangeUserPassword { iterations }),
        Box::new(OnlineUsers),
        Box::new(Announce),
    ]
}

/// An account of the command's domain named in a form (§4.2: `user@host`, no resource).
fn account(context: &Context<'_>, value: &str) -> Result<Jid, StanzaError> {
    let jid = Jid::parse(value).ok().filter(|j| j.node().is_some() && j.resource().is_none()).ok_or_else(|| {
        StanzaError::new(StanzaErrorCondition::JidMalformed).with_text(format!("{value}: not user@host"))
    })?;
    if jid.domain() != context.domain.domain() {
        return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
            .with_text(format!("{jid} is not an account of {}", context.domain)));
    }
    Ok(jid)
}

fn internal(e: StoreError) -> StanzaError {
    tracing::error!(error = %e, "admin command failed");
    StanzaError::new(StanzaErrorCondition::InternalServerError)
}

/// §4.1 Add User.
struct AddUser {
    iterations: u32,
}

impl Command for AddUser {
    fn node(&self) -> &'static str {
        "http://jabber.org/protocol/admin#add-user"
    }

    fn name(&self) -> &'static str {
        "Add User"
    }

    fn form_type(&self) -> &'static str {
        NS_ADMIN
    }

    fn form(&self) -> Element {
        form::new("form", NS_ADMIN, "Adding a User", Some("Fill out this form to add a user."))
            .with_child(form::field(
                "accountjid",
                "jid-single",
                Some("The Jabber ID for the account to be added"),
                true,
                &[],
            ))
            .with_child(form::field("password", "text-private", Some("The password for this account"), true, &[]))
            .with_child(form::field("password-verify", "text-private", Some("Retype password"), true, &[]))
    }

    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>> {
        Box::pin(async move {
            let jid = account(context, form.required("accountjid")?)?;
            let password = form.required("password")?;
            if form.single("password-verify") != Some(password) {
                return Err(
                    StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("the passwords do not match")
                );
            }
            // §5: an existing account is a conflict.
            create_account(context.server, &jid, password.to_string(), self.iterations).await?;
            tracing::info!(account = %jid, admin = %context.requester, "account added by an administrator");
            Ok(Completed::note(format!("The account {jid} was created.")))
        })
    }
}

/// §4.2 Delete User: the accounts, their data and their sessions.
struct DeleteUser;

impl Command for DeleteUser {
    fn node(&self) -> &'static str {
        "http://jabber.org/protocol/admin#delete-user"
    }

    fn name(&self) -> &'static str {
        "Delete User"
    }

    fn form_type(&self) -> &'static str {
        NS_ADMIN
    }

    fn form(&self) -> Element {
        form::new("form", NS_ADMIN, "Deleting a User", Some("Fill out this form to delete a user."))
            .with_child(form::field("accountjids", "jid-multi", Some("The Jabber ID(s) to delete"), true, &[]))
    }

    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>> {
        Box::pin(async move {
            let values = form.values("accountjids");
            if values.is_empty() {
                return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
                    .with_text("the field 'accountjids' is required"));
            }
            // Every JID is checked before anything is deleted.
            let jids = values.iter().map(|v| account(context, v)).collect::<Result<Vec<_>, _>>()?;
            let (mut deleted, mut missing) = (Vec::new(), Vec::new());
            for jid in jids {
                if context.server.remove_account(&jid).await.map_err(internal)? {
                    tracing::info!(account = %jid, admin = %context.requester, "account deleted by an administrator");
                    deleted.push(jid.to_string());
                } else {
                    missing.push(jid.to_string());
                }
            }
            let mut note = String::new();
            if !deleted.is_empty() {
                note.push_str(&format!("Deleted: {}.", deleted.join(", ")));
            }
            if !missing.is_empty() {
                note.push_str(&format!(
                    "{}No such account: {}.",
                    if note.is_empty() { "" } else { " " },
                    missing.join(", ")
                ));
            }
            Ok(Completed::note(note))
        })
    }
}

/// §4.7 Change User Password.
struct ChangeUserPassword {
    iterations: u32,
}

impl Command for ChangeUserPassword {
    fn node(&self) -> &'static str {
        "http://jabber.org/protocol/admin#change-user-password"
    }

    fn name(&self) -> &'static str {
        "Change User Password"
    }

    fn form_type(&self) -> &'static str {
        NS_ADMIN
    }

    fn form(&self) -> Element {
        form::new("form", NS_ADMIN, "Changing a User Password", Some("Fill out this form to change a user's password."))
            .with_child(form::field("accountjid", "jid-single", Some("The Jabber ID for this account"), true, &[]))
            .with_child(form::field("password", "text-private", Some("The password for this account"), true, &[]))
    }

    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>> {
        Box::pin(async move {
            let jid = account(context, form.required("accountjid")?)?;
            let password = form.required("password")?;
            let creds = derive_credentials(password.to_string(), self.iterations).await?;
            let node = jid.node().expect("checked by account()");
            match context.server.store.accounts().set_credentials(jid.domain(), node, &creds).await {
                Ok(()) => {}
                Err(StoreError::NotFound) => {
                    return Err(
                        StanzaError::new(StanzaErrorCondition::ItemNotFound).with_text(format!("no account {jid}"))
                    );
                }
                Err(e) => return Err(internal(e)),
            }
            tracing::info!(account = %jid, admin = %context.requester, "password changed by an administrator");
            Ok(Completed::note(format!("The password of {jid} was changed.")))
        })
    }
}

/// The `max_items` choices of §4.20, `none` meaning no limit.
const MAX_ITEMS: [(&str, &str); 7] =
    [("25", "25"), ("50", "50"), ("75", "75"), ("100", "100"), ("150", "150"), ("200", "200"), ("none", "None")];

/// §4.20 Get List of Online Users: accounts with at least one bound session.
struct OnlineUsers;

impl Command for OnlineUsers {
    fn node(&self) -> &'static str {
        "http://jabber.org/protocol/admin#get-online-users-list"
    }

    fn name(&self) -> &'static str {
        "Get List of Online Users"
    }

    fn form_type(&self) -> &'static str {
        NS_ADMIN
    }

    fn form(&self) -> Element {
        form::new("form", NS_ADMIN, "Requesting List of Online Users", Some("How many users to list at most."))
            .with_child(form::list_single("max_items", "Maximum number of items to show", &MAX_ITEMS, "100"))
    }

    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>> {
        Box::pin(async move {
            let limit = match form.single("max_items").unwrap_or("none") {
                "none" => usize::MAX,
                n => match MAX_ITEMS.iter().find(|(value, _)| *value == n) {
                    Some(_) => n.parse().expect("the options are numbers"),
                    // §4.20: the service may refuse a max_items it does not offer.
                    None => {
                        return Err(
                            StanzaError::new(StanzaErrorCondition::NotAcceptable).with_text("unknown max_items")
                        );
                    }
                },
            };
            let mut users: Vec<String> = context
                .server
                .sessions
                .all()
                .into_iter()
                .filter(|(full, _)| full.domain() == context.domain.domain())
                .map(|(full, _)| full.bare().to_string())
                .collect();
            users.sort();
            users.dedup();
            let total = users.len();
            users.truncate(limit);
            let values: Vec<&str> = users.iter().map(String::as_str).collect();
            let result = form::new("result", NS_ADMIN, "Online Users", None).with_child(form::field(
                "onlineuserjids",
                "jid-multi",
                Some("The list of all online users"),
                false,
                &values,
            ));
            let note = if users.len() < total {
                format!("{total} users online; the first {} are listed.", users.len())
            } else {
                format!("{total} users online.")
            };
            Ok(Completed { note, result: Some(result) })
        })
    }
}

/// §4.23 Send Announcement to Online Users: a headline from the server to
/// every bound session of the domain.
struct Announce;

impl Command for Announce {
    fn node(&self) -> &'static str {
        "http://jabber.org/protocol/admin#announce"
    }

    fn name(&self) -> &'static str {
        "Send Announcement to Online Users"
    }

    fn form_type(&self) -> &'static str {
        NS_ADMIN
    }

    fn form(&self) -> Element {
        form::new(
            "form",
            NS_ADMIN,
            "Making an Announcement",
            Some("Fill out this form to make an announcement to all active users of this service."),
        )
        .with_child(form::field("announcement", "text-multi", Some("Announcement"), true, &[]))
    }

    fn submit<'a>(
        &'a self,
        context: &'a Context<'a>,
        form: &'a Submitted,
    ) -> HookFuture<'a, Result<Completed, StanzaError>> {
        Box::pin(async move {
            // text-multi: one value per line (XEP-0004 §3.3).
            let lines = form.values("announcement");
            if lines.is_empty() {
                return Err(StanzaError::new(StanzaErrorCondition::NotAcceptable)
                    .with_text("the field 'announcement' is required"));
            }
            let body = lines.join("\n");
            let mut sent = 0;
            for (full, handle) in context.server.sessions.all() {
                if full.domain() != context.domain.domain() {
                    continue;
                }
                // Headline: for whoever is connected now, never stored offline
                // (RFC 6121 §5.2.2), which is what an announcement to online users is.
                let message = Element::new("message", ns::CLIENT)
                    .with_attr("type", "headline")
                    .with_attr("from", context.domain.as_str())
                    .with_attr("to", full.as_str())
                    .with_child(Element::new("body", ns::CLIENT).with_text(body.clone()));
                if context.server.deliver_to(context.domain, &full, &handle, message) {
                    sent += 1;
                }
            }
            tracing::info!(admin = %context.requester, sessions = sent, "announcement sent");
            Ok(Completed::note(format!("The announcement was sent to {sent} sessions.")))
        })
    }
}
