#!/usr/bin/env python3
"""A desk phone doing an attended transfer, played by PJSIP (pjsua2).

It registers as a seat, answers the call hotline rings it for, talks for
--talk seconds, puts the caller on hold, calls --line from the same
phone (the consultation), talks to whoever answers for --consult seconds,
then transfers (REFER with Replaces naming the consultation, as a desk
phone's transfer key does) and waits for hotline to end both calls. With
--transfer api it sends no REFER: it waits for hotline to end both calls
(an agent desktop completes the transfer through hotline's API).

Prints one line per event; exits 0 when both calls ended after the
transfer (with REFER: accepted by a NOTIFY 200), 1 otherwise (or after
--timeout seconds).
"""

import argparse
import os
import sys
import time

import pjsua2 as pj

events = []


def log(msg):
    print(f"{time.monotonic():.3f} {msg}", flush=True)


class Call(pj.Call):
    def __init__(self, acc, name, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id)
        self.name = name
        self.confirmed_at = None
        self.ended = False
        self.xfer_ok = False

    def onCallState(self, prm):
        ci = self.getInfo()
        log(f"{self.name}: state {ci.stateText} ({ci.lastStatusCode})")
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
            self.confirmed_at = time.monotonic()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.ended = True

    def onCallTransferStatus(self, prm):
        log(f"{self.name}: transfer status {prm.statusCode} {prm.reason} final={prm.finalNotify}")
        if prm.statusCode == 200:
            self.xfer_ok = True
        # Stay in the call until hotline hangs up: it does, at once.
        prm.cont = False

    def onCallMediaState(self, prm):
        pass


class Account(pj.Account):
    def __init__(self):
        super().__init__()
        self.incoming = None

    def onIncomingCall(self, prm):
        call = Call(self, "caller-call", prm.callId)
        op = pj.CallOpParam()
        op.statusCode = 200
        call.answer(op)
        self.incoming = call
        log("answered the call hotline rang")

    def onRegState(self, prm):
        log(f"registration {prm.code} {prm.reason}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hotline", required=True, help="hotline's phones side, host:port")
    ap.add_argument("--ext", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--bind", required=True, help="this phone's address, ip:port")
    ap.add_argument("--line", required=True, help="the line to consult (110)")
    ap.add_argument("--talk", type=float, default=5)
    ap.add_argument("--consult", type=float, default=3)
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--transfer", choices=["refer", "api"], default="refer")
    a = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 3
    cfg.logConfig.consoleLevel = 3
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    ip, port = a.bind.rsplit(":", 1)
    tcfg = pj.TransportConfig()
    tcfg.port = int(port)
    tcfg.boundAddress = ip
    tcfg.publicAddress = ip
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.libStart()
    ep.audDevManager().setNullDev()
    ep.codecSetPriority("PCMA/8000", 255)

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{a.ext}@{a.hotline.split(':')[0]}"
    acfg.regConfig.registrarUri = f"sip:{a.hotline}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.ext, 0, a.password))
    acfg.mediaConfig.transportConfig.boundAddress = ip
    acc = Account()
    acc.create(acfg)

    deadline = time.monotonic() + a.timeout
    consult = None
    held = False
    transferred = False
    ok = False
    try:
        while time.monotonic() < deadline:
            ep.libHandleEvents(20)
            first = acc.incoming
            if first is None or first.confirmed_at is None:
                continue
            now = time.monotonic()
            if not held and now - first.confirmed_at >= a.talk:
                log("holding the caller")
                first.setHold(pj.CallOpParam(True))
                held = True
                consult = Call(acc, "consultation")
                op = pj.CallOpParam(True)
                consult.makeCall(f"sip:{a.line}@{a.hotline}", op)
                log(f"calling {a.line}")
            if a.transfer == "api" and consult is not None and first.ended and consult.ended:
                ok = True
                log("both calls ended by hotline")
                break
            if (
                a.transfer == "refer"
                and consult is not None
                and not transferred
                and consult.confirmed_at is not None
                and now - consult.confirmed_at >= a.consult
            ):
                log("transfer: REFER with Replaces")
                first.xferReplaces(consult, pj.CallOpParam(True))
                transferred = True
            if transferred and first.ended and consult.ended:
                ok = first.xfer_ok
                log(f"both calls ended; transfer accepted: {ok}")
                break
    finally:
        # Let the last responses go out, then leave without tearing the
        # library down: pjsua2's Python objects outliving libDestroy()
        # trip an assertion there.
        for _ in range(25):
            ep.libHandleEvents(20)
        sys.stdout.flush()
        os._exit(0 if ok else 1)


if __name__ == "__main__":
    main()
