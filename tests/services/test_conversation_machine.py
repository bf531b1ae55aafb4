"""The conversation machine, routing table and postback codec: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from townsquare.core.kinds import Platform
from townsquare.services.conversations import (
    ANY,
    POSTBACK_MAX_BYTES,
    AmbiguousTransition,
    AudioMessage,
    Command,
    Context,
    ConversationSession,
    InvalidPostback,
    Machine,
    MachineInvalid,
    On,
    Outcome,
    Postback,
    Reaction,
    ReplyLog,
    Router,
    TextMessage,
    TextReply,
    Timeout,
    Transition,
    TransitionRejected,
    Trigger,
    decode_postback,
    encode_postback,
    postback_option,
)

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


class S(StrEnum):
    IDLE = "idle"
    AWAITING_TOPIC = "awaiting_topic"
    SHEET_READY = "sheet_ready"
    AWAITING_EMAIL = "awaiting_email"
    AWAITING_LANGUAGE = "awaiting_language"
    TRANSLATION_MODE = "translation_mode"


class FlowData(BaseModel):
    """A sample flow's data: what it is in the middle of, as typed optional fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: str | None = None
    language: str | None = None
    owner: str | None = None
    count: int = 0


Session = ConversationSession[FlowData]


def names_language(session: Session, trigger: Trigger) -> bool:
    return isinstance(trigger, Postback) and bool(trigger.params.get("lang"))


def lacks_language(session: Session, trigger: Trigger) -> bool:
    return not names_language(session, trigger)


def has_args(session: Session, trigger: Trigger) -> bool:
    return isinstance(trigger, Command) and bool(trigger.args)


def lacks_args(session: Session, trigger: Trigger) -> bool:
    return not has_args(session, trigger)


def has_topic(session: Session, trigger: Trigger) -> bool:
    return session.data.topic is not None


def lacks_topic(session: Session, trigger: Trigger) -> bool:
    return session.data.topic is None


TRANSITIONS: list[Transition[FlowData]] = [
    Transition(S.IDLE, On.command("sheet"), S.AWAITING_TOPIC),
    Transition(S.AWAITING_TOPIC, On.outcome("sheet_generated"), S.SHEET_READY, guard=has_topic),
    Transition(S.AWAITING_TOPIC, On.outcome("urgent"), S.IDLE),
    Transition(S.SHEET_READY, On.postback("translate"), S.SHEET_READY, guard=names_language),
    Transition(S.SHEET_READY, On.postback("translate"), S.AWAITING_LANGUAGE, guard=lacks_language),
    Transition(S.SHEET_READY, On.postback("email"), S.AWAITING_EMAIL),
    Transition(S.AWAITING_EMAIL, On.outcome("email_sent"), S.SHEET_READY),
    Transition(S.IDLE, On.command("translate"), S.TRANSLATION_MODE, guard=has_args),
    Transition(S.IDLE, On.command("translate"), S.AWAITING_LANGUAGE, guard=lacks_args),
    Transition(S.AWAITING_LANGUAGE, On.postback("language"), S.SHEET_READY, guard=has_topic),
    Transition(S.AWAITING_LANGUAGE, On.postback("language"), S.TRANSLATION_MODE, guard=lacks_topic),
    Transition(S.TRANSLATION_MODE, On.command("exit"), S.IDLE),
]
MACHINE = Machine(states=S, transitions=TRANSITIONS, data_model=FlowData, initial=S.IDLE)


def session_in(state: str = S.IDLE, data: FlowData | None = None) -> Session:
    return ConversationSession(
        id=1,
        community_id=1,
        platform=Platform.LINE,
        user_key="U1",
        state=state,
        data=data or FlowData(),
        version=1,
        created_at=NOW,
        updated_at=NOW,
        expires_at=NOW + timedelta(hours=24),
    )


# --- Strategies ---------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12)
params = st.dictionaries(st.sampled_from(["lang", "topic", "x"]) | names, st.text(max_size=8))
triggers: st.SearchStrategy[Trigger] = st.one_of(
    st.builds(TextMessage, st.text(max_size=40)),
    st.builds(AudioMessage, st.integers(0, 600_000), st.text(min_size=1, max_size=10)),
    st.builds(
        Postback,
        st.sampled_from(["translate", "email", "language", "cancel"]) | names,
        params,
    ),
    st.builds(
        Command,
        st.sampled_from(["sheet", "translate", "exit", "cancel", "rank"]) | names,
        st.lists(st.text(min_size=1, max_size=5), max_size=2).map(tuple),
    ),
    st.builds(Outcome, st.sampled_from(["sheet_generated", "urgent", "email_sent"]) | names),
    st.just(Timeout()),
)
flow_data = st.builds(
    FlowData,
    topic=st.none() | st.text(max_size=10),
    language=st.none() | st.sampled_from(["ja", "en", "th"]),
    count=st.integers(0, 5),
)
states = st.sampled_from(list(S))


# --- The machine ----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(data=flow_data, sequence=st.lists(triggers, max_size=30))
def test_random_triggers_never_raise_and_leave_a_declared_state(
    data: FlowData, sequence: list[Trigger]
) -> None:
    session = session_in(S.IDLE, data)
    for trigger in sequence:
        before = session
        session, step = MACHINE.advance(session, trigger)
        assert session.state in MACHINE.states
        if not step.handled:
            assert session == before
            assert step.target == step.source == before.state
        if step.resets_data:
            assert session.data == FlowData()


@settings(max_examples=300, deadline=None)
@given(state=states, data=flow_data, trigger=triggers)
def test_guards_choose_exactly_one_of_a_states_transitions(
    state: S, data: FlowData, trigger: Trigger
) -> None:
    session = session_in(state, data)
    own = [t for t in MACHINE.transitions if t.source == state and t.trigger == trigger.key]
    accepting = [t for t in own if t.guard is None or t.guard(session, trigger)]
    step = MACHINE.fire(session, trigger)
    assert len(accepting) <= 1
    if len(own) > 1:  # the sample's alternatives have complementary guards
        assert len(accepting) == 1
    if accepting:
        assert step.transition is accepting[0]
        assert step.target == accepting[0].target
    elif step.handled:  # none of the state's own: only an any-state transition may take it
        assert step.transition is not None
        assert step.transition.source == ANY


def test_a_guard_decides_between_asking_for_a_language_and_translating() -> None:
    ready = session_in(S.SHEET_READY, FlowData(topic="asthma"))

    assert MACHINE.fire(ready, Postback("translate", {"lang": "ja"})).target == S.SHEET_READY
    assert MACHINE.fire(ready, Postback("translate")).target == S.AWAITING_LANGUAGE


@settings(max_examples=100, deadline=None)
@given(
    state=states,
    data=flow_data,
    cancel=st.sampled_from([Command("cancel"), Postback("cancel"), Timeout()]),
)
def test_cancel_or_timeout_from_any_state_returns_to_idle_and_clears_the_flow_data(
    state: S, data: FlowData, cancel: Trigger
) -> None:
    session, step = MACHINE.advance(session_in(state, data), cancel)

    assert step.handled
    assert session.state == S.IDLE
    assert session.data == FlowData()


def test_an_unknown_trigger_gives_an_unhandled_step_not_an_error() -> None:
    session = session_in(S.AWAITING_EMAIL, FlowData(topic="flu"))

    after, step = MACHINE.advance(session, Command("dance"))

    assert not step.handled
    assert (step.source, step.target, step.trigger) == (
        S.AWAITING_EMAIL,
        S.AWAITING_EMAIL,
        "command:dance",
    )
    assert after is session


def test_entering_the_initial_state_clears_the_flow_data() -> None:
    session = session_in(S.TRANSLATION_MODE, FlowData(language="ja"))

    after, step = MACHINE.advance(session, Command("exit"))

    assert step.resets_data
    assert after.state == S.IDLE
    assert after.data == FlowData()


def test_overlapping_guards_are_reported_not_resolved_by_order() -> None:
    machine = Machine(
        states=["idle", "a", "b"],
        data_model=FlowData,
        transitions=[
            Transition("idle", "text", "a", guard=lambda s, t: True),
            Transition("idle", "text", "b", guard=lambda s, t: True),
        ],
    )

    with pytest.raises(AmbiguousTransition, match="Guards overlap"):
        machine.fire(session_in("idle"), TextMessage("hi"))


@pytest.mark.parametrize(
    ("transitions", "problem"),
    [
        ([Transition("idle", "text", "nowhere")], "target is not a declared state"),
        ([Transition("limbo", "text", "idle")], "source is not a declared state"),
        (
            [Transition("idle", "text", "a"), Transition("idle", "text", "a", guard=has_topic)],
            "every one needs a guard",
        ),
        ([Transition("idle", On.timeout, "a")], "timeout is built in"),
        ([], "state 'a' cannot be reached"),
    ],
)
def test_an_inconsistent_machine_is_rejected_when_built(
    transitions: list[Transition[FlowData]], problem: str
) -> None:
    with pytest.raises(MachineInvalid, match=problem):
        Machine(states=["idle", "a"], transitions=transitions, data_model=FlowData)


def test_states_must_fit_the_column_and_include_the_initial_state() -> None:
    with pytest.raises(MachineInvalid, match="initial state 'start' is not declared"):
        Machine(states=["idle"], transitions=[], data_model=FlowData, initial="start")
    with pytest.raises(MachineInvalid, match="1–64 characters"):
        Machine(states=["idle", "x" * 65], transitions=[], data_model=FlowData)


def test_a_data_model_without_defaults_needs_an_initial_data_factory() -> None:
    class Strict(BaseModel):
        topic: str

    with pytest.raises(MachineInvalid, match="give initial_data"):
        Machine(states=["idle"], transitions=[], data_model=Strict)
    machine = Machine(
        states=["idle"], transitions=[], data_model=Strict, initial_data=lambda: Strict(topic="")
    )
    assert machine.initial_data() == Strict(topic="")


def test_the_session_repr_leaves_the_personal_data_out() -> None:
    session = session_in(S.AWAITING_TOPIC, FlowData(topic="my chest hurts"))

    assert "chest" not in repr(session)
    assert "chest" not in str(session)
    assert "chest" not in repr(TextMessage("my chest hurts"))


# --- The routing table -----------------------------------------------------------------------


def sample_router() -> Router[FlowData]:
    async def fallback(ctx: Context[FlowData]) -> None:
        options = [postback_option(key[-20:], "help") for key in router.options(ctx.session.state)]
        await ctx.say("I didn't understand; here are your options.", *options[:13])

    async def timed_out(ctx: Context[FlowData]) -> None:
        await ctx.say(f"Your previous session ({ctx.session.state}) timed out.")

    router = Router(MACHINE, fallback=fallback, on_expiry=timed_out)

    @router.on(S.IDLE, On.command("rank"))
    async def rank(ctx: Context[FlowData]) -> Reaction[FlowData]:
        await ctx.say("You are level 3.")
        return Reaction()

    @router.on_enter(S.AWAITING_TOPIC)
    async def ask_topic(ctx: Context[FlowData]) -> None:
        await ctx.say("Which topic?", postback_option("Asthma", "topic", {"t": "asthma"}))

    @router.on(S.AWAITING_TOPIC, On.text)
    async def generate(ctx: Context[FlowData]) -> Reaction[FlowData]:
        assert isinstance(ctx.trigger, TextMessage)
        if "urgent" in ctx.trigger.text:
            await ctx.say("Please call emergency services.")
            return Reaction(fire=Outcome("urgent"))
        await ctx.say("Here is your sheet.")
        return Reaction(
            data=ctx.session.data.model_copy(update={"topic": ctx.trigger.text}),
            fire=Outcome("sheet_generated"),
        )

    @router.on(ANY, On.command("cancel"))
    async def cancel(ctx: Context[FlowData]) -> Reaction[FlowData]:
        await ctx.say("Cancelled.")
        return Reaction(fire=ctx.trigger)

    @router.on(S.TRANSLATION_MODE, On.text)
    async def translate(ctx: Context[FlowData]) -> Reaction[FlowData]:
        await ctx.say("(translated)")
        return Reaction(
            data=ctx.session.data.model_copy(update={"count": ctx.session.data.count + 1})
        )

    return router


async def test_a_stateless_command_replies_and_stays_idle() -> None:
    replies = ReplyLog()

    turn = await sample_router().dispatch(session_in(), Command("rank"), replies, NOW)

    assert turn.session.state == S.IDLE
    assert turn.steps == ()
    assert replies.texts == ["You are level 3."]


async def test_a_transition_without_a_handler_moves_and_the_entry_handler_asks() -> None:
    replies = ReplyLog()

    turn = await sample_router().dispatch(session_in(), Command("sheet"), replies, NOW)

    assert turn.session.state == S.AWAITING_TOPIC
    assert replies.texts == ["Which topic?"]
    assert replies.sent[0].quick_replies[0].label == "Asthma"


async def test_a_handlers_outcome_moves_the_machine_after_its_data_is_applied() -> None:
    replies = ReplyLog()

    turn = await sample_router().dispatch(
        session_in(S.AWAITING_TOPIC), TextMessage("asthma"), replies, NOW
    )

    assert turn.session.state == S.SHEET_READY  # the guard saw the topic the handler set
    assert turn.session.data.topic == "asthma"
    assert replies.texts == ["Here is your sheet."]


async def test_an_unknown_trigger_gets_the_fallback_with_the_states_options() -> None:
    replies = ReplyLog()

    turn = await sample_router().dispatch(
        session_in(S.SHEET_READY, FlowData(topic="flu")), TextMessage("hello?"), replies, NOW
    )

    assert not turn.handled
    assert turn.session.state == S.SHEET_READY
    assert replies.texts == ["I didn't understand; here are your options."]
    labels = {option.label for option in replies.sent[0].quick_replies}
    assert {"postback:translate", "postback:email", "command:cancel"} <= labels


async def test_a_handler_firing_a_trigger_its_state_cannot_take_is_rejected() -> None:
    router = sample_router()

    @router.on(S.SHEET_READY, On.text)
    async def confused(ctx: Context[FlowData]) -> Reaction[FlowData]:
        return Reaction(fire=Outcome("email_sent"))

    with pytest.raises(TransitionRejected, match="no transition"):
        await router.dispatch(session_in(S.SHEET_READY), TextMessage("x"), ReplyLog(), NOW)


async def test_expiry_tells_the_user_and_starts_afresh() -> None:
    replies = ReplyLog()
    router = sample_router()

    turn = await router.expire(
        session_in(S.TRANSLATION_MODE, FlowData(language="ja")), replies, NOW
    )
    quiet = await router.expire(session_in(S.IDLE, FlowData(count=2)), ReplyLog(), NOW)

    assert turn.expired
    assert (turn.session.state, turn.session.data) == (S.IDLE, FlowData())
    assert replies.texts == ["Your previous session (translation_mode) timed out."]
    assert quiet.steps == ()
    assert quiet.session.data == FlowData()


def test_the_routing_table_holds_one_handler_per_state_and_trigger() -> None:
    router = sample_router()

    async def again(ctx: Context[FlowData]) -> Reaction[FlowData]:
        return Reaction()

    with pytest.raises(MachineInvalid, match="a second handler"):
        router.route(S.IDLE, On.command("rank"), again)
    with pytest.raises(MachineInvalid, match="undeclared state"):
        router.route("limbo", On.text, again)
    with pytest.raises(MachineInvalid, match="on_expiry"):
        router.route(S.IDLE, On.timeout, again)


def test_a_states_own_route_wins_over_the_any_state_route() -> None:
    router = sample_router()

    async def own_cancel(ctx: Context[FlowData]) -> Reaction[FlowData]:
        return Reaction()

    router.route(S.TRANSLATION_MODE, On.command("cancel"), own_cancel)

    assert router.resolve(S.TRANSLATION_MODE, On.command("cancel")) is own_cancel
    assert router.resolve(S.SHEET_READY, On.command("cancel")) is not own_cancel
    assert router.resolve(S.SHEET_READY, On.command("cancel")) is not None


@settings(max_examples=150, deadline=None)
@given(sequence=st.lists(triggers.filter(lambda t: not isinstance(t, Timeout)), max_size=25))
async def test_random_triggers_through_the_router_never_raise(sequence: list[Trigger]) -> None:
    router = sample_router()
    session = session_in()
    for trigger in sequence:
        replies = ReplyLog()
        turn = await router.dispatch(session, trigger, replies, NOW)
        session = turn.session
        assert session.state in MACHINE.states
        if not turn.handled:
            assert replies.texts == ["I didn't understand; here are your options."]


# --- Postbacks and quick replies ----------------------------------------------------------


@settings(max_examples=500, deadline=None)
@given(
    action=st.text(min_size=1, max_size=60),
    params=st.dictionaries(
        st.text(min_size=1, max_size=20).filter(lambda name: name != "action"),
        st.text(max_size=60),
        max_size=6,
    ),
)
def test_postback_data_round_trips_or_is_rejected_for_size(
    action: str, params: dict[str, str]
) -> None:
    rejection: str | None = None
    try:
        data = encode_postback(action, params)
    except InvalidPostback as exc:
        rejection = exc.message
    if rejection is not None:
        assert "bytes" in rejection or "Unicode" in rejection
        return
    assert len(data.encode("utf-8")) <= POSTBACK_MAX_BYTES
    assert decode_postback(data) == Postback(action, params)


def test_a_postback_reads_like_a_query_string() -> None:
    assert encode_postback("translate", {"lang": "ja"}) == "action=translate&lang=ja"
    assert decode_postback("action=translate&lang=ja") == Postback("translate", {"lang": "ja"})


def test_postback_data_over_300_bytes_is_rejected_both_ways() -> None:
    with pytest.raises(InvalidPostback, match="at most 300"):
        encode_postback("translate", {"text": "あ" * 100})
    with pytest.raises(InvalidPostback, match="at most 300"):
        decode_postback("action=x&pad=" + "a" * 300)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("", "no action"),
        ("lang=ja", "no action"),
        ("action=", "no action"),
        ("action=a&action=b", "twice"),
        ("action=a&lang", "not of the form"),
        ("action=a&&lang=ja", "not of the form"),
        ("action=%ff", "not of the form"),
        ("action=a&=x", "names cannot be empty"),
    ],
)
def test_malformed_postback_data_is_rejected_with_a_clear_error(data: str, problem: str) -> None:
    with pytest.raises(InvalidPostback, match=problem):
        decode_postback(data)


@settings(max_examples=300, deadline=None)
@given(data=st.text(max_size=400))
def test_decoding_arbitrary_postback_data_never_crashes(data: str) -> None:
    try:
        postback = decode_postback(data)
    except InvalidPostback:
        return
    assert postback.action


def test_encoding_refuses_what_it_could_not_decode() -> None:
    with pytest.raises(InvalidPostback, match="needs an action"):
        encode_postback("")
    with pytest.raises(InvalidPostback, match="not a parameter"):
        encode_postback("a", {"action": "b"})
    with pytest.raises(InvalidPostback, match="Unicode"):
        encode_postback("a", {"x": "\ud800"})


def test_quick_replies_are_held_to_lines_limits() -> None:
    option = postback_option("Japanese", "translate", {"lang": "ja"}, display_text="日本語")

    assert option.data == "action=translate&lang=ja"
    with pytest.raises(ValidationError):
        postback_option("A label longer than twenty", "translate")
    with pytest.raises(ValidationError):
        TextReply(text="Pick one", quick_replies=(option,) * 14)
