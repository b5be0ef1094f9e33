//! What hotline itself says to a caller (with `[media]`): the place in
//! line and estimated wait announced while they wait, and the
//! satisfaction survey (满意度回访) when the agent hangs up first.
//!
//! ```text
//!  arrival --welcome--> music ... [announce: position-N, wait-M] ... music ... connect
//!                              every `announce_every_secs` of the queue
//!
//!  agent BYE (line with survey) --> survey.wav --digit 1-3--> thanks.wav --> BYE caller
//!                                              --no digit----------------> BYE caller
//!                                              <--caller BYE: "hangup"
//! ```
//!
//! The estimated wait follows the usual position-based estimate: the
//! caller's place in line times the queue's average handle time (talk plus
//! wrap-up, a moving average like Asterisk's `holdtime`, new calls
//! weighing a quarter), divided by the seats staffed. Until the queue has
//! answered a call there is nothing to estimate from and only the place
//! in line is said.
//!
//! The survey's outcome goes on the call record (`survey`) and into the
//! event log (`survey`); the agent's seat is free (wrap-up) as soon as the
//! agent hangs up, and the talk time ends there too.

use super::Engine;
use super::call::LegRef;
use crate::media::driver::MediaCmd;
use crate::media::player::Clip;
use crate::media::session::Leg;
use crate::model::{EventKind, HangupBy, Outcome, QueueEvent};
use std::time::{Duration, Instant};

/// The engine's own deadlines, by call id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Time for the next place-in-line announcement.
    Announce(String),
    /// The survey waited long enough for a digit.
    SurveyTimeout(String),
    /// The thank-you has played: hang up.
    SurveyDone(String),
    /// The refusal prompt has played: send the final response.
    Reject(String),
    /// A callback rang `[outbound] ring_timeout_secs` unanswered.
    CallbackRing(String),
}

/// A call's survey, from the agent's hang-up on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    /// The digit, "none" or "hangup"; `None` while still asking.
    pub answer: Option<String>,
}

/// Pause between the end of the thank-you (or the busy prompt) and
/// hotline's BYE (or final response).
const AFTER_THANKS: Duration = Duration::from_millis(300);

impl Engine {
    /// Arms a call's first announcement at `at`, if its queue announces.
    pub(super) fn schedule_announcement(&mut self, id: &str, at: Instant) {
        let Some(settings) = self.config.media.as_ref() else {
            return;
        };
        let Some(call) = self.calls.get(id) else {
            return;
        };
        if settings.announcements.is_some()
            && settings
                .queues
                .get(&call.queue)
                .is_some_and(|q| q.announce_every.is_some())
        {
            self.timers.set(Timer::Announce(id.into()), at);
        }
    }

    pub(super) fn cancel_prompt_timers(&mut self, id: &str) {
        for t in [
            Timer::Announce(id.into()),
            Timer::SurveyTimeout(id.into()),
            Timer::SurveyDone(id.into()),
            Timer::Reject(id.into()),
        ] {
            self.timers.cancel(&t);
        }
    }

    pub(super) fn handle_prompt_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Announce(id) => self.announce(now, &id),
            Timer::SurveyTimeout(id) => {
                tracing::info!(call = %id, "survey: no digit");
                self.finish_survey(now, &id, "none", false);
            }
            Timer::SurveyDone(id) => self.finish_survey(now, &id, "", false),
            Timer::CallbackRing(id) => self.callback_ring_timeout(now, &id),
            Timer::Reject(id) => {
                if let Some((code, reason)) = self
                    .calls
                    .get(&id)
                    .filter(|c| c.ended.is_none())
                    .and_then(|c| c.rejecting.clone())
                {
                    self.reject_call(now, &id, code, &reason);
                }
            }
        }
    }

    /// The queue refuses an anchored call: the caller first hears the
    /// queue's refusal prompt ("all lines are busy, please call again
    /// later") in early media, then gets the final response. `false` when
    /// there is no prompt to play (no media, late offer, no prompt): refuse
    /// at once.
    pub(super) fn reject_after_prompt(
        &mut self,
        now: Instant,
        id: &str,
        code: u16,
        reason: &str,
    ) -> bool {
        let Some(settings) = self.config.media.clone() else {
            return false;
        };
        let Some(call) = self
            .calls
            .get(id)
            .filter(|c| c.ended.is_none() && !c.inbound.answered && c.media.is_some())
        else {
            return false;
        };
        let Some(prompt) = settings
            .queues
            .get(&call.queue)
            .and_then(|q| q.reject_prompt.clone())
        else {
            return false;
        };
        if self.awaits_late_answer(id) {
            return false;
        }
        let ringing_sent = call.inbound.ringing_sent;
        if let Some(c) = self.calls.get_mut(id) {
            c.rejecting = Some((code, reason.to_string()));
        }
        if !ringing_sent {
            self.send_progress(now, id);
        }
        self.timers.cancel(&Timer::Announce(id.into()));
        tracing::info!(call = %id, code, reason, "refusing after the busy prompt");
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: vec![prompt.clone()],
                then_loop: None,
            },
        );
        self.timers.set(
            Timer::Reject(id.into()),
            now + Duration::from_millis(prompt.duration_ms()) + AFTER_THANKS,
        );
        true
    }

    /// Announces the call's place in line and estimated wait, and arms
    /// the next announcement. A call ringing a seat is skipped this round
    /// (it is about to be answered); one moved to a queue that does not
    /// announce stops.
    fn announce(&mut self, now: Instant, id: &str) {
        let Some(settings) = self.config.media.clone() else {
            return;
        };
        let Some(call) = self
            .calls
            .get(id)
            .filter(|c| c.ended.is_none() && c.seat.is_none() && c.media.is_some())
        else {
            return;
        };
        let (Some(queue), Some(prompts)) = (
            settings.queues.get(&call.queue),
            settings.announcements.as_ref(),
        ) else {
            return;
        };
        let Some(every) = queue.announce_every else {
            return;
        };
        self.timers.set(Timer::Announce(id.into()), now + every);
        if !call.legs.is_empty() {
            return;
        }
        let Some(position) = self.acd.position(id) else {
            return;
        };
        let mut clips = Vec::new();
        if queue.announce_position {
            clips.push(pick(&prompts.position, position).clone());
        }
        let estimate = self.estimated_wait(&call.queue, position);
        if queue.announce_wait
            && let Some(wait) = estimate
        {
            clips.push(pick(&prompts.wait, wait_minutes(wait)).clone());
        }
        tracing::debug!(call = %id, position, estimated_wait_s = estimate.map(|d| d.as_secs()), "announcement");
        if !clips.is_empty() {
            self.media_cmd(id, MediaCmd::Announce(clips));
        }
    }

    /// Place in line x average handle time / staffed seats; `None` before
    /// the queue has a handle time to go by.
    pub(super) fn estimated_wait(&self, queue: &str, position: usize) -> Option<Duration> {
        let handle = *self.handle_time.get(queue)?;
        let staffed = self.acd.staffed_count(queue).max(1) as u32;
        Some(handle * position as u32 / staffed)
    }

    /// An answered call of `queue` ended after `talk`: the moving average
    /// of handle time takes it (weight 1/4, as Asterisk's holdtime).
    pub(super) fn learn_handle_time(&mut self, queue: &str, talk: Duration) {
        let wrapup = self
            .config
            .media
            .as_ref()
            .and_then(|m| m.queues.get(queue))
            .map_or(Duration::ZERO, |q| q.wrapup);
        let handle = talk + wrapup;
        let avg = self.handle_time.entry(queue.to_string()).or_insert(handle);
        *avg = (*avg * 3 + handle) / 4;
    }

    /// Whether the agent's hang-up of call `id` leads to the survey.
    pub(super) fn wants_survey(&self, id: &str) -> bool {
        let Some(settings) = self.config.media.as_ref() else {
            return false;
        };
        let Some(call) = self.calls.get(id) else {
            return false;
        };
        settings.survey.is_some()
            && call.media.is_some()
            && call.survey.is_none()
            && settings
                .lines
                .get(&call.line.number)
                .is_some_and(|l| l.survey)
    }

    /// The agent hung up first on a line that surveys: the caller stays,
    /// hears the survey prompt and may press a digit.
    pub(super) fn start_survey(&mut self, now: Instant, id: &str) {
        let Some((prompt, _)) = self.config.media.as_ref().and_then(|m| m.survey.clone()) else {
            return;
        };
        let timeout = self
            .config
            .media
            .as_ref()
            .map_or(Duration::ZERO, |m| m.survey_timeout);
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        call.talk_ended = Some(now);
        call.hangup_by = Some(HangupBy::Agent);
        call.survey = Some(Survey { answer: None });
        tracing::info!(call = %id, "survey");
        let ends = now + Duration::from_millis(prompt.duration_ms()) + timeout;
        self.media_cmd(id, MediaCmd::RemoveLeg(Leg::Agent));
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: vec![prompt],
                then_loop: None,
            },
        );
        self.timers.set(Timer::SurveyTimeout(id.into()), ends);
    }

    /// A digit from the caller: during the survey, 1-3 answer it (other
    /// keys are ignored); the caller hears the thank-you, then hotline
    /// hangs up.
    pub(super) fn survey_digit(&mut self, now: Instant, id: &str, digit: char) {
        let Some(call) = self.calls.get(id) else {
            return;
        };
        if call.survey.as_ref().is_none_or(|s| s.answer.is_some()) || !('1'..='3').contains(&digit)
        {
            return;
        }
        let Some((_, thanks)) = self.config.media.as_ref().and_then(|m| m.survey.clone()) else {
            return;
        };
        tracing::info!(call = %id, %digit, "survey answered");
        self.set_survey_answer(now, id, digit.to_string());
        self.timers.cancel(&Timer::SurveyTimeout(id.into()));
        self.timers.set(
            Timer::SurveyDone(id.into()),
            now + Duration::from_millis(thanks.duration_ms()) + AFTER_THANKS,
        );
        self.media_cmd(
            id,
            MediaCmd::Play {
                clips: vec![thanks],
                then_loop: None,
            },
        );
    }

    fn set_survey_answer(&mut self, now: Instant, id: &str, answer: String) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        let Some(survey) = call.survey.as_mut().filter(|s| s.answer.is_none()) else {
            return;
        };
        survey.answer = Some(answer.clone());
        let ev = QueueEvent {
            at_ms: self.timebase.ms(now),
            call_id: Some(id.into()),
            queue: Some(call.queue.clone()),
            seat: call.seat.clone(),
            kind: EventKind::Survey,
            detail: Some(answer),
        };
        self.record_event(ev);
    }

    /// Ends a surveyed call: records `answer` if none was given yet
    /// ("none", "hangup"), hangs up the caller unless they did, and writes
    /// the call's final record.
    pub(super) fn finish_survey(
        &mut self,
        now: Instant,
        id: &str,
        answer: &str,
        caller_hung_up: bool,
    ) {
        if !self
            .calls
            .get(id)
            .is_some_and(|c| c.survey.is_some() && c.ended.is_none())
        {
            return;
        }
        if !answer.is_empty() {
            self.set_survey_answer(now, id, answer.to_string());
        }
        if !caller_hung_up {
            self.bye_inbound(now, id);
        }
        self.end_call(now, id, Outcome::Answered, Some(HangupBy::Agent), None);
    }

    /// Whether `leg` of call `id` is the caller waiting in the survey.
    pub(super) fn in_survey(&self, id: &str, leg: &LegRef) -> bool {
        *leg == LegRef::Citizen
            && self
                .calls
                .get(id)
                .is_some_and(|c| c.survey.is_some() && c.ended.is_none())
    }
}

/// `clips[n - 1]` for n = 1..=10, the last ("many") beyond.
fn pick(clips: &[Clip], n: usize) -> &Clip {
    &clips[n.clamp(1, clips.len()) - 1]
}

/// Whole minutes, rounded up; under a minute says one.
fn wait_minutes(wait: Duration) -> usize {
    (wait.as_secs().div_ceil(60) as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_minutes_and_beyond_ten_say_many() {
        assert_eq!(wait_minutes(Duration::from_secs(5)), 1);
        assert_eq!(wait_minutes(Duration::from_secs(60)), 1);
        assert_eq!(wait_minutes(Duration::from_secs(61)), 2);
        let clips: Vec<Clip> = (1..=11)
            .map(|n| Clip::new(&n.to_string(), vec![0; 8]))
            .collect();
        assert_eq!(&*pick(&clips, 1).name, "1");
        assert_eq!(&*pick(&clips, 10).name, "10");
        assert_eq!(&*pick(&clips, 11).name, "11");
        assert_eq!(&*pick(&clips, 40).name, "11", "ten or more ahead");
    }
}
