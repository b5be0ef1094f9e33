//! Callbacks (回访): a seat calling a citizen back is on a call for the
//! ACD, so no queued call rings it meanwhile; when the callback ends the
//! seat goes back to the state it left (ready, not ready with its reason,
//! logged out), or to what the agent asked for during the call. A callback
//! has no wrap-up of its own: the agent takes not-ready for after-call work.

use super::seat::{AfterCall, AgentState};
use super::{Acd, AcdError, Timer};
use std::time::Instant;

impl Acd {
    /// Seat `seat` starts callback `call`. Refused while the seat rings or
    /// is on another call.
    pub fn outbound_started(
        &mut self,
        now: Instant,
        seat: &str,
        call: &str,
    ) -> Result<(), AcdError> {
        let Some(s) = self.seats.get_mut(seat) else {
            return Err(AcdError::UnknownSeat(seat.into()));
        };
        match s.state.clone() {
            AgentState::Ringing { .. } | AgentState::OnCall { .. } => {
                return Err(AcdError::SeatBusy(seat.into()));
            }
            AgentState::NotReady { reason } => s.after_call = Some(AfterCall::NotReady { reason }),
            AgentState::LoggedOut => s.after_call = Some(AfterCall::LoggedOut),
            // Wrap-up keeps what the agent asked for during the last call.
            AgentState::WrapUp => {}
            AgentState::Ready => s.after_call = None,
        }
        self.timers.cancel(&Timer::WrapUp(seat.into()));
        self.set_state(
            now,
            seat,
            AgentState::OnCall { call: call.into() },
            Some(call),
        );
        Ok(())
    }

    /// Callback `call` of seat `seat` ended (answered or not).
    pub fn outbound_ended(&mut self, now: Instant, seat: &str, call: &str) {
        let on_it = self
            .seats
            .get(seat)
            .is_some_and(|s| s.state == AgentState::OnCall { call: call.into() });
        if !on_it {
            return;
        }
        if let Some(s) = self.seats.get_mut(seat) {
            s.idle_since = Some(now);
        }
        self.free_seat(now, seat, AgentState::Ready, Some(call));
        self.dispatch(now);
    }
}
