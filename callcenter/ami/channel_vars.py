"""Names shared by dialplans/*.conf and the code: the contract between Asterisk and this service.

A name that is spelled in a dialplan and in Python must be spelled here and nowhere else in the code, so
that renaming it is one edit plus a dialplan edit, and tests/dialplans/ can check that both sides agree.
The values match the real captures in tests/data/ami-traces (CC_ACTION, CC_TARGET, CC_RING_TIMEOUT_S ...).
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Final


class ChannelVar(StrEnum):
    """Channel variables on the inbound (or originated) channel."""

    # The whole FastAGI answer in one variable (see PLAN_FIELDS): every route answers with one SET VARIABLE CC_PLAN,
    # and the dialplan, which clears it before AGI(), unpacks it with CUT() into the variables below.
    PLAN = "CC_PLAN"
    # Unpacked from CC_PLAN by [cc-inbound].
    ACTION = "CC_ACTION"  # one of CcAction; the dialplan clears it before every AGI call
    TARGET = "CC_TARGET"  # Dial() string, parallel targets joined with '&'
    RING_TIMEOUT_S = "CC_RING_TIMEOUT_S"
    DIAL_OPTS = "CC_DIAL_OPTS"
    QUEUE = "CC_QUEUE"  # queue for action=queue, and the overflow queue after the last failed Dial
    QUEUE_TIMEOUT_S = "CC_QUEUE_TIMEOUT_S"
    MAILBOX = "CC_MAILBOX"  # VoiceMail() box (box@context) for voicemail/callback and after a queue timeout
    REASON = "CC_REASON"  # routing reason code, for the console log and AMI VarSet consumers
    # Written by the dialplan itself.
    ATTEMPT = "CC_ATTEMPT"  # 1-based routing attempt, also passed to FastAGI as AgiArg.ATTEMPT
    CALLBACK_CHOICE = "CC_CALLBACK_CHOICE"  # DTMF read by the after-hours callback offer
    # Written by the dialer with AMI Originate (Variable: CC_CAMPAIGN=42), read by [cc-agents]/[cc-dial-customer].
    CAMPAIGN = "CC_CAMPAIGN"
    # Written by click-to-call's AMI Originate (the user id who clicked), read by [cc-dial-customer].
    CLICK_TO_CALL = "CC_CLICK_TO_CALL"
    # Customer-first dialer calls ([cc-campaign]): written by the dialer's AMI Originate (callcenter.dialer.originate).
    # CC_ATTEMPT is taken (routing's 1-based attempt counter), so the dialer's attempt row id has its own name.
    DIAL_ATTEMPT = "CC_DIAL_ATTEMPT"  # id of the campaign attempt row: correlates the channel, AGI and UserEvents
    AMD_NOTSURE = "CC_AMD_NOTSURE"  # what AMDSTATUS=NOTSURE counts as: human (default) or machine
    MACHINE_ACTION = "CC_MACHINE_ACTION"  # on an answering machine: hangup (default) or message (leave CC_INFO_MESSAGE)
    INFO_MESSAGE = "CC_INFO_MESSAGE"  # sound file played when no agent can take the call (who called, call-back number)
    # Unpacked from the FastAGI campaign route's CC_PLAN by [cc-campaign].
    AGENT = "CC_AGENT"  # the reserved agent's extension, or NO_AGENT
    AGENT_RING_S = "CC_AGENT_RING_S"  # how long the reserved agent's phone may ring before the call is abandoned
    # Unpacked from the FastAGI outbound route's (AGI_ROUTE_OUTBOUND) CC_PLAN by [cc-outbound] with CC_ACTION (dial or
    # hangup) and CC_REASON; no usable plan (an unreachable service) means "out as before".
    DIAL_NUMBER = "CC_DIAL_NUMBER"  # the dialled number normalised with the team's region (E.164)
    PRESENTED_NUM = "CC_PRESENTED_NUM"  # caller id number presented to the customer (team / DID policy)
    # Unpacked from the FastAGI feature-code route's (AGI_ROUTE_FEATURE) CC_PLAN by [cc-feature]; no usable plan (an
    # unreachable service) leaves CC_FEATURE_RESULT empty: "no answer" (an error prompt), never ok.
    FEATURE_RESULT = "CC_FEATURE_RESULT"  # one of FeatureResult
    FEATURE_PROMPT = "CC_FEATURE_PROMPT"  # the sound Playback() answers the agent with (FeaturePrompt)
    FEATURE_DIAL = "CC_FEATURE_DIAL"  # E.164 "call back my last missed caller" dials ([cc-dial-customer])


class DialplanFunction(StrEnum):
    """Asterisk dialplan functions the FastAGI answer writes (a CC_PLAN field the dialplan Set()s: a name ending in
    ')' goes to the function's write callback)."""

    # The caller's name on the inbound channel: Dial() and Queue() present it to the agent's phone (the INVITE's From
    # display name), and a transferred customer keeps it (callcenter.routing.caller_name).
    CALLER_NAME = "CALLERID(name)"


class OriginateVar(StrEnum):
    """Channel variables the service sets with its own AMI Originate and reads back from VarSet; no dialplan reads
    them (they sit apart from ChannelVar, whose every name the dialplan must read), but they share the CC_ namespace
    so that a name can never mean two things."""

    # SpyMode of a supervisor's ChanSpy call. Asterisk sets an Originate's variables before it dials, so the live
    # model knows the channel is a listener before anything else happens on it, and keeps it out of the calls.
    SPY = "CC_SPY"


class SpyMode(StrEnum):
    """Values of CC_SPY: what a supervisor does on an agent's live call (the ChanSpy options live in ami.actions)."""

    LISTEN = "listen"  # hears agent and customer, nobody hears the supervisor
    WHISPER = "whisper"  # only the agent hears the supervisor (coaching)
    BARGE = "barge"  # agent and customer both hear the supervisor


class Context(StrEnum):
    """Dialplan contexts the service sends calls into (AMI Originate / Redirect)."""

    AGENTS = "cc-agents"  # _10XX: ring an agent's desk phone
    DIAL_CUSTOMER = "cc-dial-customer"  # dial a customer number over the trunk
    CAMPAIGN = "cc-campaign"  # customer-first dialer call: AMD, ask FastAGI for an agent, Dial it or play the message


class DialplanGlobal(StrEnum):
    """[globals] of dialplans/extensions.conf: site settings only the dialplan reads.

    They live here too so that a CC_* name can never mean two things.
    """

    AGI_HOSTPORT = "CC_AGI_HOSTPORT"  # host:port of this service's FastAGI listener
    MAX_ATTEMPTS = "CC_MAX_ATTEMPTS"  # Dial attempts before the call overflows to a queue
    FALLBACK_QUEUE = "CC_FALLBACK_QUEUE"  # queue used when FastAGI gives no usable answer at all
    FALLBACK_QUEUE_TIMEOUT_S = "CC_FALLBACK_QUEUE_TIMEOUT_S"
    RECORD_STEREO = "CC_RECORD_STEREO"  # yes: one 2-channel .raw file; otherwise separate rx/tx WAV legs


class CcAction(StrEnum):
    """Values of CC_ACTION; each one is a branch in [cc-inbound]."""

    DIAL = "dial"
    QUEUE = "queue"
    HANGUP = "hangup"
    VOICEMAIL = "voicemail"  # after hours: straight to CC_MAILBOX
    CALLBACK = "callback"  # after hours: offer a callback (press 1), else voicemail if CC_MAILBOX is set


class AgiRoute(StrEnum):
    """FastAGI script names: agi://host:port/<route>,<attempt>,<last DIALSTATUS or NONE>,<linkedid>.

    The shipped dialplan asks `inbound` for every attempt, exactly as the captured traces do (attempt 2 arrives as
    `inbound,2,NOANSWER`), because the decision needs the same inputs each time. `next` is served by the same
    handler so that a hand-written dialplan may name its retry call explicitly.
    """

    INBOUND = "inbound"
    NEXT = "next"


class AgiArg(IntEnum):
    """Positions of the AGI() arguments (agi_arg_N) that the dialplan passes."""

    ATTEMPT = 1
    LAST_DIAL_STATUS = 2
    LINKEDID = 3


class CampaignAgiArg(IntEnum):
    """Positions of the AGI() arguments [cc-campaign] passes to the campaign route."""

    CAMPAIGN = 1
    DIAL_ATTEMPT = 2


# FastAGI script [cc-campaign] asks once AMD heard a person: which agent takes this call? It is not an AgiRoute (those
# all go to the inbound router); callcenter.dialer.agent_agi serves it.
AGI_ROUTE_CAMPAIGN: Final = "campaign"
NO_AGENT: Final = "none"  # CC_AGENT when no agent was reserved in time
# Played when CC_INFO_MESSAGE is empty: a shipped prompt name (sounds/<lang>/cc-dialer-info.*), the site records it.
DEFAULT_INFO_MESSAGE: Final = "cc-dialer-info"
# AMI UserEvents raised by [cc-campaign]; both carry Attempt: <CC_DIAL_ATTEMPT>.
USER_EVENT_DIALER_AMD: Final = "CcDialerAmd"  # Status: <AMDSTATUS>, Cause: <AMDCAUSE>
USER_EVENT_DIALER_RESULT: Final = "CcDialerResult"  # Outcome: abandoned | machine, Agent: <CC_AGENT>

class FeatureCode(StrEnum):
    """What an agent's desk phone asks for with a feature code ([cc-features] passes it as agi_arg_1).

    The digits are the dialplan's (FEATURE_DIGITS); the service only ever sees these words."""

    LOGIN = "login"  # into their team's queues
    LOGOUT = "logout"
    PAUSE = "pause"  # agi_arg_2: the reason code (digits after *46), empty for a pause without reason
    UNPAUSE = "unpause"
    WRAPUP_END = "wrapup-end"
    CALLBACK = "callback"  # call back my last missed caller


# The digits dialled on the desk phone, as [cc-features] spells them (tests/dialplans checks both agree).
FEATURE_DIGITS: Final[dict[FeatureCode, str]] = {
    FeatureCode.LOGIN: "*44",
    FeatureCode.LOGOUT: "*45",
    FeatureCode.PAUSE: "*46",  # *46<reason code>
    FeatureCode.UNPAUSE: "*47",
    FeatureCode.WRAPUP_END: "*48",
    FeatureCode.CALLBACK: "*49",
}


class FeatureAgiArg(IntEnum):
    """Positions of the AGI() arguments [cc-features] passes to the feature route."""

    CODE = 1  # a FeatureCode
    ARG = 2  # the pause reason code
    ENDPOINT = 3  # ${CHANNEL(endpoint)}: the PJSIP endpoint that dialled = the agent's extension


class FeatureResult(StrEnum):
    """Values of CC_FEATURE_RESULT."""

    OK = "ok"  # done (for callback: CC_FEATURE_DIAL holds the number to dial)
    REFUSED = "refused"  # not for this phone / this input (no agent, unknown reason code, nothing to end or call)
    ERROR = "error"  # the service or Asterisk failed: nothing changed


class FeaturePrompt(StrEnum):
    """CC_FEATURE_PROMPT: sounds of Asterisk's core sound set (asterisk-core-sounds-en), so no site recording is
    needed; a missing file only makes Playback fail (PLAYBACKSTATUS=FAILED) and the call end."""

    DONE = "beep"  # pause, unpause, end of wrap-up
    LOGGED_IN = "agent-loginok"  # "agent logged in"
    LOGGED_OUT = "agent-loggedoff"  # "agent logged off"
    REFUSED = "invalid"  # "that is not valid": unknown reason code, nothing to end / call back
    NO_AGENT = "feature-not-avail-line"  # "that feature is not available on this line": a phone of no agent
    ERROR = "an-error-has-occurred"


AGI_ROUTE_FEATURE: Final = "feature"
# Custom device state of an agent, shown on supervisors' BLF keys through [cc-features] hints (callcenter.deskphone.blf)
AGENT_DEVICE_PREFIX: Final = "Custom:agent-"
# Hint extensions: *7<extension> in [cc-features]; dialling one rings the agent.
BLF_HINT_PREFIX: Final = "*7"

# FastAGI script [cc-outbound] asks for a call dialled from a desk phone (9<number>); callcenter.routing.outbound
# serves it: AGI(agi://.../outbound,<number>,<endpoint>)
AGI_ROUTE_OUTBOUND: Final = "outbound"


class OutboundAgiArg(IntEnum):
    """Positions of the AGI() arguments [cc-outbound] passes to the outbound route."""

    NUMBER = 1  # the digits dialled after the 9
    ENDPOINT = 2  # ${CHANNEL(endpoint)}: the desk phone that dialled = the agent's extension


NO_DIAL_STATUS: Final = "NONE"  # what the dialplan passes as LAST_DIAL_STATUS before the first Dial()

# AMI UserEvent the service itself sends (Action: UserEvent) for what only the service decides about an agent: every
# instance's AMI session hears it in Asterisk's one order, so all live models apply it alike (docs/architecture.md
# "Several instances"). Headers: Agent, Control (AgentControl), AtS (epoch s it takes effect), CallId, Reason.
USER_EVENT_AGENT_CONTROL: Final = "CcAgentControl"


class AgentControl(StrEnum):
    WRAPUP_END = "wrapup-end"  # CallId: the call whose wrap-up ends
    OWN_PAUSE = "pause"  # an agent in no queue, paused for the service's own routing; Reason: the reason ('' none)
    OWN_UNPAUSE = "unpause"


# AMI UserEvent raised by [cc-inbound] when an after-hours caller accepts the callback offer.
USER_EVENT_CALLBACK_REQUESTED: Final = "CcCallbackRequested"

# MixMonitor file names relative to the monitor spool (the recording module finds them from the Uniqueid).
RECORDING_RX_SUFFIX: Final = "-rx"  # audio read from the inbound channel: the customer
RECORDING_TX_SUFFIX: Final = "-tx"  # audio written to the inbound channel: the agent
RECORDING_STEREO_SUFFIX: Final = "-stereo"  # .raw, s16le 8 kHz, left = customer, right = agent

class PlanTag(StrEnum):
    """Field 1 of CC_PLAN: which route's plan, in which layout. The dialplan unpacks a plan only when this tag and
    the field count (FIELDQTY) are exactly what it expects, so a cut, garbled or foreign answer falls back as a
    missing one does; a new layout gets a new tag."""

    INBOUND = "inbound1"
    OUTBOUND = "outbound1"
    FEATURE = "feature1"
    CAMPAIGN = "campaign1"


# CC_PLAN = <tag>|<field 2>|<field 3>|...: the dialplan reads field N with ${CUT(CC_PLAN,|,N)}. '|' because no value
# of ours can contain it (callcenter.ami.agi_plan rejects one that does, and caller names lose it when made
# display-safe) and it is not special anywhere on the way: not in AGI quoting, not in Set() (which takes everything
# after its '=' as the value), not in $[...] or Dial()/Queue() arguments since Asterisk 1.6 separates with ','.
PLAN_DELIMITER: Final = "|"
# The fields after the tag, in order: PLAN_FIELDS[tag][i] is field i + 2 (tests/dialplans checks the CUT() indices).
PLAN_FIELDS: Final[dict[PlanTag, tuple[ChannelVar | DialplanFunction, ...]]] = {
    PlanTag.INBOUND: (
        ChannelVar.ACTION,
        ChannelVar.TARGET,
        ChannelVar.RING_TIMEOUT_S,
        ChannelVar.DIAL_OPTS,
        ChannelVar.QUEUE,
        ChannelVar.QUEUE_TIMEOUT_S,
        ChannelVar.MAILBOX,
        ChannelVar.REASON,
        DialplanFunction.CALLER_NAME,  # empty: the caller's own name stays (the dialplan skips the Set)
    ),
    PlanTag.OUTBOUND: (ChannelVar.ACTION, ChannelVar.DIAL_NUMBER, ChannelVar.PRESENTED_NUM, ChannelVar.REASON),
    PlanTag.FEATURE: (
        ChannelVar.FEATURE_RESULT,
        ChannelVar.FEATURE_PROMPT,
        ChannelVar.FEATURE_DIAL,  # empty unless the callback feature names a number
        ChannelVar.CLICK_TO_CALL,  # with FEATURE_DIAL only: the user the call goes out for
    ),
    PlanTag.CAMPAIGN: (ChannelVar.AGENT, ChannelVar.AGENT_RING_S),
}

ALL_CC_NAMES: Final[frozenset[str]] = frozenset(
    {str(v) for v in ChannelVar} | {str(v) for v in DialplanGlobal} | {str(v) for v in OriginateVar}
)
