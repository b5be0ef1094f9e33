//! Log lines for systemd's journal (`--log-format journald`): each line
//! starts with its syslog priority (`<3>` error, `<4>` warning, `<6>`
//! info, `<7>` debug), which journald reads from a service's stderr
//! (`SyslogLevelPrefix=`, on by default), so `journalctl -u hotline -p
//! warning` shows warnings and errors only. No timestamp (the journal
//! stamps each line) and no colours; otherwise the text format.

use std::fmt;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Wraps an event format, prefixing each line with its priority.
#[derive(Debug, Clone)]
pub struct Journald<F>(pub F);

/// The text format without time or colours, for the journal.
pub fn format()
-> Journald<tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Full, ()>> {
    Journald(
        tracing_subscriber::fmt::format()
            .without_time()
            .with_ansi(false),
    )
}

/// The syslog priority of a tracing level.
pub fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

impl<S, N, F> FormatEvent<S, N> for Journald<F>
where
    F: FormatEvent<S, N>,
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "<{}>", priority(event.metadata().level()))?;
        self.0.format_event(ctx, writer, event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_start_with_their_priority_and_carry_no_time() {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || out.clone())
            .event_format(format())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(port = 5060, "cannot bind");
            tracing::warn!("careful");
            tracing::info!("started");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("<3>") && lines[0].contains("cannot bind port=5060"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("<4>") && lines[2].starts_with("<6>"),
            "{text}"
        );
        // No time, no colours: the priority, the level, the target, the message.
        assert_eq!(lines[2], "<6> INFO hotline::journald::tests: started");
    }
}
