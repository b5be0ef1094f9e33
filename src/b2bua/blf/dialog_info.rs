//! The dialog event package's data (RFC 4235): what a watcher is shown of
//! a seat, and the `application/dialog-info+xml` body that carries it.
//!
//! hotline reports at most one dialog per seat, named by hotline's call
//! id: the seat's agent state says it all.
//!
//! ```text
//!  agent state                 dialog shown
//!  ringing {call}         -->  <dialog id=call direction=recipient> early
//!  on_call {call}         -->  <dialog id=call> confirmed (initiator for a callback)
//!  ready, not_ready,      -->  no dialog; the one just ended is reported
//!  wrap_up, logged_out         once more as terminated
//! ```

use crate::acd::AgentState;

/// The state of the one dialog a seat shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    Early,
    Confirmed,
    Terminated,
}

impl DialogState {
    pub fn as_str(self) -> &'static str {
        match self {
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
            DialogState::Terminated => "terminated",
        }
    }
}

/// A dialog as a watcher sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialogView {
    /// hotline's call id.
    pub id: String,
    pub state: DialogState,
    /// The seat placed the call (a callback); else it was called.
    pub initiator: bool,
}

impl DialogView {
    /// The same dialog, ended.
    pub fn terminated(&self) -> DialogView {
        DialogView {
            state: DialogState::Terminated,
            ..self.clone()
        }
    }
}

/// The dialog a seat in `state` shows; `None` when it has no call.
/// `placed` tells whether the seat placed a call itself (a callback).
pub fn view(state: &AgentState, placed: impl Fn(&str) -> bool) -> Option<DialogView> {
    let (id, state) = match state {
        AgentState::Ringing { call } => (call, DialogState::Early),
        AgentState::OnCall { call } => (call, DialogState::Confirmed),
        _ => return None,
    };
    Some(DialogView {
        id: id.clone(),
        state,
        initiator: placed(id),
    })
}

/// The `application/dialog-info+xml` document of one NOTIFY: always full
/// state, `version` counting the subscription's NOTIFYs from 0; `entity`
/// is the watched seat's URI.
pub fn body(entity: &str, version: u32, dialog: Option<&DialogView>) -> String {
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"{version}\" state=\"full\" entity=\"{}\">\n",
        escape(entity)
    );
    if let Some(d) = dialog {
        let direction = if d.initiator {
            "initiator"
        } else {
            "recipient"
        };
        xml.push_str(&format!(
            "  <dialog id=\"{}\" direction=\"{direction}\">\n    <state>{}</state>\n  </dialog>\n",
            escape(&d.id),
            d.state.as_str()
        ));
    }
    xml.push_str("</dialog-info>\n");
    xml
}

/// Text made safe for an XML attribute or element.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The event package and `id` parameter of an Event header value
/// (`dialog;id=7` gives `("dialog", Some("7"))`), package lower-cased.
pub fn event_package(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let package = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    let id = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("id")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    (package, id)
}

/// Whether an Accept header value admits dialog-info documents.
pub fn accepts_dialog_info(accept: &str) -> bool {
    accept.split(',').any(|t| {
        let t = t
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        matches!(
            t.as_str(),
            "application/dialog-info+xml" | "application/*" | "*/*"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_states_map_to_one_dialog_or_none() {
        let ringing = AgentState::Ringing { call: "c1".into() };
        let on_call = AgentState::OnCall { call: "c1".into() };
        let v = view(&ringing, |_| false).unwrap();
        assert_eq!((v.state, v.initiator), (DialogState::Early, false));
        let v = view(&on_call, |c| c == "c1").unwrap();
        assert_eq!((v.state, v.initiator), (DialogState::Confirmed, true));
        for idle in [
            AgentState::Ready,
            AgentState::WrapUp,
            AgentState::LoggedOut,
            AgentState::NotReady {
                reason: "lunch".into(),
            },
        ] {
            assert_eq!(view(&idle, |_| false), None, "{idle:?}");
        }
    }

    #[test]
    fn the_body_is_full_state_with_its_version() {
        let d = DialogView {
            id: "a<b".into(),
            state: DialogState::Early,
            initiator: false,
        };
        let xml = body("sip:8001@127.0.0.1", 3, Some(&d));
        assert!(xml.contains("version=\"3\" state=\"full\""), "{xml}");
        assert!(xml.contains("entity=\"sip:8001@127.0.0.1\""), "{xml}");
        assert!(xml.contains("<dialog id=\"a&lt;b\" direction=\"recipient\">"));
        assert!(xml.contains("<state>early</state>"));
        let idle = body("sip:8001@h", 0, None);
        assert!(!idle.contains("<dialog "), "{idle}");
        assert!(idle.trim_end().ends_with("</dialog-info>"));
    }

    #[test]
    fn event_and_accept_headers_are_read_leniently() {
        assert_eq!(event_package("dialog"), ("dialog".into(), None));
        assert_eq!(
            event_package("Dialog ; id=\"k7\""),
            ("dialog".into(), Some("k7".into()))
        );
        assert_eq!(event_package("presence").0, "presence");
        assert!(accepts_dialog_info("application/dialog-info+xml"));
        assert!(accepts_dialog_info("application/pidf+xml, */*;q=0.1"));
        assert!(!accepts_dialog_info("application/pidf+xml"));
    }
}
