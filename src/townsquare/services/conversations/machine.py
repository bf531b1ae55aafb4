"""The conversation state machine and its routing table: pure, no I/O of its own.

The predecessor kept boolean flags and one 400-line message handler. Here a flow is:

* a `Machine`: the declared states, the transitions between them (``source --trigger-->
  target``, optionally guarded), and the initial state. It is checked when built: every
  state named is declared, every state is reachable, and one trigger from one state never
  has two unguarded transitions. Firing a trigger the state does not accept is not an
  error: it gives an *unhandled* `Step`, so the user hears their options, never a crash.
* a `Router`: one handler per (state, trigger key) — ``(IDLE, command:rank)``,
  ``(AWAITING_TOPIC, text)`` — plus optional entry handlers per state, a fallback for
  unhandled triggers and an expiry handler. A handler does the work (replies, provider
  calls) and returns a `Reaction`: new data and/or the trigger to fire. Work whose result
  decides the next state reports an `Outcome` (``sheet_generated``) instead of guessing;
  guards are for decisions that need no I/O (does the postback name a language?).

Two transitions exist in every machine: *cancel* (``command:cancel``, ``postback:cancel``
by default) and *timeout* (fired by the engine when the session has been idle past its
expiry). Both go to the initial state, and entering the initial state always resets the
flow data: a finished or abandoned conversation keeps nothing personal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Generic, Protocol

from pydantic import ValidationError

from townsquare.services.conversations.schemas import (
    AmbiguousTransition,
    ConversationSession,
    DataT,
    MachineInvalid,
    On,
    QuickReply,
    TextReply,
    Timeout,
    TransitionRejected,
    Trigger,
)

#: The source of a transition (or the state of a route) that applies in every state.
ANY: Final = "*"
#: Keys that cancel from any state unless a flow says otherwise.
CANCEL_KEYS: Final = (On.command("cancel"), On.postback("cancel"))
#: The width of ``conversation_sessions.state``.
MAX_STATE_CHARS: Final = 64

Guard = Callable[[ConversationSession[DataT], Trigger], bool]


@dataclass(frozen=True, slots=True)
class Transition(Generic[DataT]):
    """``source --trigger--> target`` when ``guard`` (if any) accepts the session and trigger.

    ``reset`` replaces the flow data with the initial data (entering the initial state
    always does). ``source`` may be `ANY`; a state's own transitions for a trigger are
    tried before the any-state ones.
    """

    source: str
    trigger: str
    target: str
    guard: Guard[DataT] | None = field(default=None, compare=False)
    reset: bool = False

    def __str__(self) -> str:
        guarded = " [guarded]" if self.guard is not None else ""
        return f"{self.source} --{self.trigger}{guarded}--> {self.target}"


@dataclass(frozen=True, slots=True)
class Step:
    """What firing one trigger did. ``transition`` is None when the state does not accept
    the trigger (then ``target == source`` and nothing changes)."""

    source: str
    trigger: str
    target: str
    transition: Transition[Any] | None = None
    resets_data: bool = False

    @property
    def handled(self) -> bool:
        return self.transition is not None

    @property
    def changes_state(self) -> bool:
        return self.target != self.source


class Machine(Generic[DataT]):
    """A flow's declared states and transitions, checked when built (`MachineInvalid`)."""

    def __init__(
        self,
        *,
        states: Iterable[str],
        transitions: Iterable[Transition[DataT]],
        data_model: type[DataT],
        initial: str = "idle",
        initial_data: Callable[[], DataT] | None = None,
        cancel: Sequence[str] = CANCEL_KEYS,
    ) -> None:
        self.states: tuple[str, ...] = tuple(str(state) for state in states)
        self.initial = str(initial)
        self.data_model = data_model
        self._initial_data = initial_data or data_model
        declared = list(transitions)
        builtin: list[Transition[DataT]] = [
            Transition(ANY, key, self.initial, reset=True) for key in (*cancel, On.timeout)
        ]
        self._check(declared)
        self.transitions: tuple[Transition[DataT], ...] = (*declared, *builtin)
        self._table: dict[tuple[str, str], tuple[Transition[DataT], ...]] = {}
        for transition in self.transitions:
            group = (transition.source, transition.trigger)
            self._table[group] = (*self._table.get(group, ()), transition)
        self._check_groups_and_reachability()

    def initial_data(self) -> DataT:
        return self._initial_data()

    def accepts(self, state: str) -> bool:
        return state in self.states

    def fire(self, session: ConversationSession[DataT], trigger: Trigger) -> Step:
        """The step ``trigger`` takes from the session's state; unhandled when none accepts.

        The state's own transitions are tried first, then the any-state ones. Among a
        group of guarded transitions exactly one may accept: two is `AmbiguousTransition`
        (the guards overlap — a flow bug), none falls through to the next group.
        """
        key = trigger.key
        for source in (session.state, ANY):
            accepted = [
                transition
                for transition in self._table.get((source, key), ())
                if transition.guard is None or transition.guard(session, trigger)
            ]
            if len(accepted) > 1:
                listed = ", ".join(str(transition) for transition in accepted)
                raise AmbiguousTransition(f"Guards overlap for {key!r}: {listed}.")
            if accepted:
                chosen = accepted[0]
                return Step(
                    source=session.state,
                    trigger=key,
                    target=chosen.target,
                    transition=chosen,
                    resets_data=chosen.reset or chosen.target == self.initial,
                )
        return Step(source=session.state, trigger=key, target=session.state)

    def apply(self, session: ConversationSession[DataT], step: Step) -> ConversationSession[DataT]:
        """The session after ``step`` (unchanged when the step was unhandled)."""
        if not step.handled:
            return session
        update: dict[str, object] = {"state": step.target}
        if step.resets_data:
            update["data"] = self.initial_data()
        return session.model_copy(update=update)

    def advance(
        self, session: ConversationSession[DataT], trigger: Trigger
    ) -> tuple[ConversationSession[DataT], Step]:
        """`fire` and `apply` in one."""
        step = self.fire(session, trigger)
        return self.apply(session, step), step

    def reset(self, session: ConversationSession[DataT]) -> ConversationSession[DataT]:
        """The session back in the initial state with the initial data."""
        return session.model_copy(update={"state": self.initial, "data": self.initial_data()})

    def triggers_from(self, state: str) -> tuple[str, ...]:
        """Keys of what a user can do that some transition accepts in ``state`` (for "here
        are your options"): no outcomes (handlers report those) and no timeout."""
        keys = {key for (source, key) in self._table if source in (state, ANY)}
        return tuple(sorted(key for key in keys if _user_facing(key)))

    def _check(self, declared: list[Transition[DataT]]) -> None:
        problems: list[str] = []
        if len(set(self.states)) != len(self.states):
            problems.append("a state is declared twice")
        for state in self.states:
            if not state or len(state) > MAX_STATE_CHARS or state == ANY:
                problems.append(
                    f"state {state!r} must be 1–{MAX_STATE_CHARS} characters, not {ANY!r}"
                )
        if self.initial not in self.states:
            problems.append(f"the initial state {self.initial!r} is not declared")
        try:
            self.initial_data()
        except ValidationError:
            problems.append("the initial data cannot be built: give initial_data")
        for transition in declared:
            if transition.source != ANY and transition.source not in self.states:
                problems.append(f"{transition}: source is not a declared state")
            if transition.target not in self.states:
                problems.append(f"{transition}: target is not a declared state")
            if transition.trigger == On.timeout:
                problems.append(f"{transition}: timeout is built in (always to the initial state)")
        if problems:
            raise MachineInvalid(problems)

    def _check_groups_and_reachability(self) -> None:
        problems: list[str] = []
        for (source, key), group in self._table.items():
            if len(group) > 1 and any(transition.guard is None for transition in group):
                problems.append(
                    f"{len(group)} transitions from {source!r} on {key!r}: "
                    "when there are several, every one needs a guard"
                )
        reached = {self.initial}
        frontier = deque([self.initial])
        while frontier:
            state = frontier.popleft()
            for transition in self.transitions:
                if transition.source in (state, ANY) and transition.target not in reached:
                    reached.add(transition.target)
                    frontier.append(transition.target)
        problems += [
            f"state {state!r} cannot be reached from {self.initial!r}"
            for state in self.states
            if state not in reached
        ]
        if problems:
            raise MachineInvalid(problems)


def _user_facing(key: str) -> bool:
    return key != On.timeout and not key.startswith(On.outcome(""))


# --- Replies ----------------------------------------------------------------------------


class ReplySink(Protocol):
    """Where a handler's replies go: the LINE adapter (reply token, push fallback), a
    Discord interaction, or `ReplyLog` in tests."""

    async def send(self, reply: TextReply) -> None: ...


@dataclass
class ReplyLog:
    """A `ReplySink` that keeps what was sent, in order (tests, previews)."""

    sent: list[TextReply] = field(default_factory=list)

    async def send(self, reply: TextReply) -> None:
        self.sent.append(reply)

    @property
    def texts(self) -> list[str]:
        return [reply.text for reply in self.sent]


# --- Routing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context(Generic[DataT]):
    """What a handler gets: the session as it is now, what the user did, where to reply."""

    session: ConversationSession[DataT]
    trigger: Trigger
    replies: ReplySink
    now: datetime

    async def say(self, text: str, *options: QuickReply) -> None:
        await self.replies.send(TextReply(text=text, quick_replies=options))


@dataclass(frozen=True, slots=True)
class Reaction(Generic[DataT]):
    """A handler's decision: the flow data from now on (None: unchanged) and the trigger to
    fire on the machine (None: stay). The data is applied before the trigger fires, so
    guards see it; a transition that resets the data (into the initial state, cancel,
    timeout) wins over it."""

    data: DataT | None = None
    fire: Trigger | None = None


Handler = Callable[[Context[DataT]], Awaitable[Reaction[DataT]]]
#: Replies only (entering a state, the fallback, expiry): cannot move the machine.
Notice = Callable[[Context[DataT]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Turn(Generic[DataT]):
    """The session after one trigger, and the steps it took (empty: a handler stayed)."""

    session: ConversationSession[DataT]
    steps: tuple[Step, ...] = ()
    expired: bool = False

    @property
    def handled(self) -> bool:
        """False when the trigger was not understood (the fallback replied)."""
        return all(step.handled for step in self.steps)


async def _silent(context: Context[DataT]) -> None:
    return None


class Router(Generic[DataT]):
    """The routing table of a flow: (state, trigger key) → handler, one each."""

    def __init__(
        self,
        machine: Machine[DataT],
        *,
        fallback: Notice[DataT],
        on_expiry: Notice[DataT] | None = None,
    ) -> None:
        self.machine = machine
        self._fallback = fallback
        self._on_expiry: Notice[DataT] = on_expiry or _silent
        self._routes: dict[tuple[str, str], Handler[DataT]] = {}
        self._entries: dict[str, Notice[DataT]] = {}

    def route(self, state: str, trigger: str, handler: Handler[DataT]) -> None:
        """Send ``trigger`` in ``state`` (or `ANY` state) to ``handler``."""
        state = str(state)
        if state != ANY and not self.machine.accepts(state):
            raise MachineInvalid([f"route for undeclared state {state!r}"])
        if trigger == On.timeout:
            raise MachineInvalid(["timeout is not routed: give the router on_expiry"])
        if (state, trigger) in self._routes:
            raise MachineInvalid([f"a second handler for {trigger!r} in {state!r}"])
        self._routes[(state, trigger)] = handler

    def on(self, state: str, trigger: str) -> Callable[[Handler[DataT]], Handler[DataT]]:
        """Decorator form of `route`."""

        def register(handler: Handler[DataT]) -> Handler[DataT]:
            self.route(state, trigger, handler)
            return handler

        return register

    def on_enter(self, state: str) -> Callable[[Notice[DataT]], Notice[DataT]]:
        """Decorator: replies when the machine enters ``state`` (e.g. "Which topic?")."""
        state = str(state)
        if not self.machine.accepts(state):
            raise MachineInvalid([f"entry handler for undeclared state {state!r}"])

        def register(notice: Notice[DataT]) -> Notice[DataT]:
            if state in self._entries:
                raise MachineInvalid([f"a second entry handler for {state!r}"])
            self._entries[state] = notice
            return notice

        return register

    def resolve(self, state: str, trigger: str) -> Handler[DataT] | None:
        """The state's own handler for the trigger key, else the any-state one."""
        return self._routes.get((state, trigger)) or self._routes.get((ANY, trigger))

    def options(self, state: str) -> tuple[str, ...]:
        """Trigger keys ``state`` understands: routed ones and those with a transition."""
        routed = {
            key for (source, key) in self._routes if source in (state, ANY) and _user_facing(key)
        }
        return tuple(sorted(routed | set(self.machine.triggers_from(state))))

    async def dispatch(
        self,
        session: ConversationSession[DataT],
        trigger: Trigger,
        replies: ReplySink,
        now: datetime,
    ) -> Turn[DataT]:
        """Handle one trigger: the routed handler if there is one, else the machine's own
        transition, else the fallback. Raises `TransitionRejected` when a handler fires a
        trigger its state cannot take (the caller's transaction then rolls back)."""
        context = Context(session, trigger, replies, now)
        handler = self.resolve(session.state, trigger.key)
        if handler is None:
            step = self.machine.fire(session, trigger)
            if not step.handled:
                await self._fallback(context)
                return Turn(session, (step,))
        else:
            reaction = await handler(context)
            if reaction.data is not None:
                session = session.model_copy(update={"data": reaction.data})
            if reaction.fire is None:
                return Turn(session)
            step = self.machine.fire(session, reaction.fire)
            if not step.handled:
                raise TransitionRejected(
                    f"The handler for {trigger.key!r} in {session.state!r} fired "
                    f"{reaction.fire.key!r}, which {session.state!r} has no transition for."
                )
        session = self.machine.apply(session, step)
        entry = self._entries.get(step.target) if step.changes_state else None
        if entry is not None:
            await entry(Context(session, trigger, replies, now))
        return Turn(session, (step,))

    async def expire(
        self, session: ConversationSession[DataT], replies: ReplySink, now: datetime
    ) -> Turn[DataT]:
        """End an expired session: the expiry handler sees the old session (to say "your
        session about … timed out"), then the built-in timeout returns it to the initial
        state with the initial data. An expired session already in the initial state is
        reset silently (there was nothing to lose)."""
        if session.state == self.machine.initial:
            return Turn(self.machine.reset(session), expired=True)
        await self._on_expiry(Context(session, Timeout(), replies, now))
        session, step = self.machine.advance(session, Timeout())
        return Turn(session, (step,), expired=True)
