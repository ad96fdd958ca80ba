"""The typed scenario schema: frozen pydantic models and the JSON Schema export.

Defaults live here and only here. A `Scenario` is pure description: the engine
builds its runtime state from it and never writes back into it.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from flowsim.errors import did_you_mean
from flowsim.timebase import Clock, zone

#: Words YAML 1.1 read as booleans; in YAML 1.2 (and here) they are text.
YAML11_BOOLEANS = {"yes", "no", "on", "off", "y", "n"}


def _flag(value: Any) -> Any:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _not_boolean(value: Any) -> Any:
    """Booleans are not numbers: ``informed_share: true`` must not mean 1."""
    if isinstance(value, bool):
        raise ValueError("expected a number, not a boolean")
    if isinstance(value, str) and value.lower() in YAML11_BOOLEANS:
        raise ValueError(f"expected a number, not the word {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("Input should be a finite number")  # pydantic's words, checked first
    return value


def _whole(value: Any) -> Any:
    """A whole number, also when written (or calibrated) as ``3.0``; not 2.5, not true."""
    if isinstance(value, bool):
        raise ValueError("expected a whole number, not a boolean")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("expected a finite whole number")
        if not value.is_integer():
            raise ValueError("expected a whole number")
        return int(value)
    return value


Number = BeforeValidator(_not_boolean)
Identifier = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
CheckpointId = Identifier
Mode = Identifier
Probability = Annotated[float, Number, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Positive = Annotated[float, Number, Field(gt=0.0, allow_inf_nan=False, le=1e9)]
NonNegative = Annotated[float, Number, Field(ge=0.0, allow_inf_nan=False, le=1e9)]
Real = Annotated[float, Number, Field(allow_inf_nan=False, ge=-1e9, le=1e9)]
Lanes = Annotated[int, BeforeValidator(_whole), Field(ge=0, le=10_000, strict=True)]
PartySize = Annotated[int, BeforeValidator(_whole), Field(ge=1, le=1000, strict=True)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Stage = Literal["exit", "entry"]
Source = Annotated[str, Field(max_length=500)]


def _check_timezone(name: str) -> str:
    try:
        zone(name)
    except KeyError:
        raise ValueError(f"unknown IANA time zone {name!r}") from None
    return name


TimeZone = Annotated[str, AfterValidator(_check_timezone)]


def _clock_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected a local time 'HH:MM' in quotes, e.g. '07:00'")
    return value


def _check_clock(text: str) -> str:
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"expected a local time 'HH:MM', got {text!r}")
    if not (0 <= int(hours) <= 24 and int(minutes) < 60) or (int(hours) == 24 and minutes != "00"):
        raise ValueError(f"expected a local time between 00:00 and 24:00, got {text!r}")
    return text


ClockTime = Annotated[str, BeforeValidator(_clock_text), AfterValidator(_check_clock)]


class Frozen(BaseModel):
    """Base of every schema model: immutable, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --- distributions -------------------------------------------------------------------


class Exponential(Frozen):
    """Exponential with the given mean."""

    dist: Literal["exponential"]
    mean: Positive


class Fixed(Frozen):
    """A constant."""

    dist: Literal["fixed"]
    value: NonNegative


class Uniform(Frozen):
    """Uniform on [low, high]."""

    dist: Literal["uniform"]
    low: NonNegative
    high: NonNegative

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be >= low")
        return self


class Gamma(Frozen):
    """Gamma with the given mean and coefficient of variation."""

    dist: Literal["gamma"]
    mean: Positive
    cv: Annotated[float, Number, Field(gt=0.0, le=20.0)]


class Lognormal(Frozen):
    """Lognormal with the given mean and coefficient of variation."""

    dist: Literal["lognormal"]
    mean: Positive
    cv: Annotated[float, Number, Field(gt=0.0, le=20.0)]


ContinuousDist = Annotated[
    Exponential | Fixed | Uniform | Gamma | Lognormal, Field(discriminator="dist")
]


class FixedCount(Frozen):
    """Every party has exactly `value` persons."""

    dist: Literal["fixed"]
    value: PartySize


class ShiftedPoisson(Frozen):
    """1 + Poisson(mean - 1) persons."""

    dist: Literal["shifted_poisson"]
    mean: Annotated[float, Number, Field(ge=1.0, le=1000.0)]


class Categorical(Frozen):
    """Party sizes `values` with relative `weights`."""

    dist: Literal["categorical"]
    values: list[PartySize] = Field(min_length=1)
    weights: list[NonNegative] = Field(min_length=1)

    @model_validator(mode="after")
    def _matching(self) -> Categorical:
        if len(self.values) != len(self.weights):
            raise ValueError("values and weights must have the same length")
        if sum(self.weights) <= 0:
            raise ValueError("weights must not all be zero")
        return self


CountDist = Annotated[FixedCount | ShiftedPoisson | Categorical, Field(discriminator="dist")]


# --- parameters, attributes, countries -------------------------------------------------


class Parameter(Frozen):
    """A named value referenced elsewhere as ``$name``; calibration tunes it within bounds.

    The bounds are the plausible range: a value outside them is allowed (a sensitivity
    run may go there) and `flowsim.checks` warns about it; inverted bounds are an error.
    """

    value: Real
    lower: Real | None = Field(None, description="lowest plausible value")
    upper: Real | None = Field(None, description="highest plausible value")
    source: Source = Field(description="a row id of shared/data/FACTS.md, or 'assumption'")
    note: str = ""
    calibrate: Flag = Field(
        False, description="tuned by `flowsim calibrate` unless --params says otherwise"
    )

    @model_validator(mode="after")
    def _ordered_bounds(self) -> Parameter:
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower bound {self.lower:g} is above upper bound {self.upper:g}")
        return self


class Attribute(Frozen):
    """A traveller attribute: held by whole parties (documents) or by single persons."""

    share: Probability = Field(description="share among normal (baseline) travellers")
    surge_share: Probability | None = Field(
        None, description="share among surge travellers (default: same as `share`)"
    )
    per: Literal["party", "person"] = "party"
    given: Identifier | None = Field(
        default=None, description="drawn only for parties holding this party attribute"
    )
    source: Source = ""


class DepartureRoute(Frozen):
    """How admitted travellers leave a country again: a share of them, after a stay."""

    to: Identifier = Field(
        description="'return' (back to Russia through the checkpoint of entry) or the "
        "checkpoint of this country where the departures are counted"
    )
    share: Probability = Field(description="share of admitted normal-traffic parties")
    surge_share: Probability | None = Field(
        None, description="share of admitted surge parties (default: `share`)"
    )
    stay_days: ContinuousDist = Field(description="days from admission to departure")
    source: Source = ""


class Country(Frozen):
    """A destination country: documents it requires and how attractive it is."""

    requires: list[Identifier] = Field(
        default_factory=list, description="party attributes a traveller needs to be admitted"
    )
    attractiveness: Real = Field(0.0, description="utility constant in the border choice")
    surge_attractiveness: Real | None = Field(
        None, description="utility constant for surge travellers (default: `attractiveness`)"
    )
    departures: list[DepartureRoute] = Field(
        default_factory=list,
        description="routes out of the country; parties on none stay beyond the horizon",
    )
    source: Source = ""


# --- checkpoints ------------------------------------------------------------------------


class StageSpec(Frozen):
    """One control stage (Russian exit or the neighbour's entry) for one mode."""

    lanes: Lanes
    service_minutes: ContinuousDist


class ModeSpec(Frozen):
    """How a checkpoint serves one mode: exit control, then entry control."""

    exit: StageSpec
    entry: StageSpec
    queue_space_m: NonNegative = Field(
        0.0, description="road length a queued unit takes, in metres (0 for pedestrians)"
    )


class OpeningWindow(Frozen):
    """A daily window of local time during which lanes start services."""

    open: ClockTime
    close: ClockTime


class Checkpoint(Frozen):
    """A border crossing with its lanes per mode and stage."""

    country: str
    timezone: TimeZone
    modes: dict[Mode, ModeSpec] = Field(
        description="lanes per mode; none for a place where only departures are counted"
    )
    opening_hours: list[OpeningWindow] | None = Field(
        default=None, description="daily local windows; omitted means open 24 hours"
    )
    attractiveness: Real = Field(
        0.0,
        description="utility constant of this crossing, added to its country's (a main "
        "road against a minor one)",
    )
    source: Source = ""

    @field_validator("opening_hours")
    @classmethod
    def _some_window(cls, windows: list[OpeningWindow] | None) -> list[OpeningWindow] | None:
        if windows == []:
            raise ValueError(
                "an empty list would keep the checkpoint closed for the whole horizon; omit "
                "it for open 24 hours, or close the checkpoint with a closure policy"
            )
        return windows


# --- demand -----------------------------------------------------------------------------


class PartyClass(Frozen):
    """A kind of travelling party (e.g. car occupants) and the modes it may use."""

    share: Probability = Field(description="share of persons travelling in this class")
    party_size: CountDist
    modes: dict[Mode, Real] = Field(
        min_length=1, description="modes this party may use, each with a utility constant"
    )


class SurgeKnot(Frozen):
    """A point of the piecewise-linear national surge rate."""

    at: AwareDatetime
    per_day: NonNegative


class NormalTrafficChange(Frozen):
    """From `at` on, normal traffic is its baseline times `factor` (until the next change)."""

    at: AwareDatetime
    factor: NonNegative
    source: Source = Field(description="a row id of docs/sources.md, or 'assumption'")
    note: str = ""


class Origin(Frozen):
    """A region of Russia where travellers set out from."""

    baseline_per_day: NonNegative = Field(description="persons per day in normal traffic")
    surge_share: Probability = Field(description="share of the national surge from here")
    travel_hours: dict[CheckpointId, NonNegative] = Field(
        min_length=1, description="checkpoints reachable from here and the hours to reach them"
    )
    class_shares: dict[Identifier, Probability] | None = Field(
        default=None,
        min_length=1,
        description="overrides the demand-wide class shares for this origin",
    )
    attribute_shares: dict[Identifier, Probability] = Field(default_factory=dict)
    source: Source = ""


class Choice(Frozen):
    """How travellers choose, balk, renege and divert."""

    hours_weight: NonNegative = Field(
        description="utility lost per hour of travel and expected wait"
    )
    surge_wait_weight: NonNegative | None = Field(
        None,
        description="utility lost per hour of expected wait by surge travellers "
        "(default: `hours_weight`); people fleeing weigh a queue less than tourists",
    )
    information_delay_hours: NonNegative = Field(
        0.0,
        description="queues are known as they were this many hours before the choice "
        "(word of mouth, Telegram channels)",
    )
    sunk_cost_per_hour: NonNegative = Field(
        0.0,
        description="balking and patience thresholds grow by this fraction per hour "
        "already travelled to the checkpoint",
    )
    information_update_minutes: Annotated[float, Number, Field(ge=15, le=1440, multiple_of=15)] = (
        Field(
            60.0,
            description="queues and policies are known as of the last update (a multiple of 15)",
        )
    )
    informed_share: Probability = Field(
        description="share of parties who know the policies in force when choosing"
    )
    divert_share: Probability = Field(
        description="share of balking, reneging or stopped parties who try another border"
    )
    balk_hours: ContinuousDist | None = Field(
        None,
        description=(
            "a party balks if the expected wait on arrival exceeds its draw; omit for never"
        ),
    )
    patience_hours: ContinuousDist | None = Field(
        None,
        description=(
            "a party reneges if still waiting for exit control after its draw; omit for never"
        ),
    )


class Demand(Frozen):
    """Who sets out, when, from where, and how they choose a border."""

    weekday_factors: list[NonNegative] = Field(
        default_factory=lambda: [1.0] * 7,
        min_length=7,
        max_length=7,
        description="baseline multipliers, Monday first",
    )
    hourly_factors: list[NonNegative] = Field(
        default_factory=lambda: [1.0] * 24,
        min_length=24,
        max_length=24,
        description="departure-time multipliers by hour of the day in `timezone` (mean 1)",
    )
    timezone: TimeZone = "Europe/Moscow"
    classes: dict[Identifier, PartyClass] = Field(min_length=1)
    origins: dict[Identifier, Origin] = Field(min_length=1)
    surge: list[SurgeKnot] = Field(
        default_factory=list,
        description="national surge, persons per day, linear between knots, 0 outside",
    )
    normal_traffic: list[NormalTrafficChange] = Field(
        default_factory=list,
        description="dated changes of normal traffic (every origin's baseline times a factor, "
        "from `at` until the next change), e.g. ordinary trips given up after an announcement",
    )
    choice: Choice

    @field_validator("weekday_factors", "hourly_factors")
    @classmethod
    def _not_all_zero(cls, factors: list[float]) -> list[float]:
        if not any(factors):
            raise ValueError(
                "every factor is 0, which would leave no normal traffic; "
                "give relative rates with a mean of about 1"
            )
        return factors


# --- policies ---------------------------------------------------------------------------


class Selector(Frozen):
    """Which parties a policy concerns: by mode and by party attributes."""

    modes: list[Mode] | None = None
    with_: list[Identifier] = Field(default_factory=list, alias="with")
    without: list[Identifier] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PolicyBase(Frozen):
    """Fields shared by every policy type."""

    start: AwareDatetime
    end: AwareDatetime | None = None
    announced: AwareDatetime | None = Field(
        None,
        description="from then, informed parties avoid it if they expect to arrive after "
        "`start` (default: known only from `start`)",
    )
    source: Source = Field(description="a row id of docs/sources.md, or 'assumption'")
    note: str = ""

    @model_validator(mode="after")
    def _ordered(self) -> PolicyBase:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        if self.announced is not None and self.announced > self.start:
            raise ValueError("announced must not be after start")
        return self


class Targets(Frozen):
    """A set of checkpoints named directly or by country."""

    checkpoints: list[CheckpointId] = Field(default_factory=list)
    countries: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> Targets:
        if not self.checkpoints and not self.countries:
            raise ValueError("name at least one checkpoint or country")
        return self


class EntryBan(PolicyBase):
    """The destination refuses persons with an attribute."""

    type: Literal["entry_ban"]
    where: Targets
    attribute: Identifier = Field(description="holders are refused; exemptions are attributes too")


class AccessRestriction(PolicyBase):
    """An upstream authority stops a class of parties before they reach the checkpoint."""

    type: Literal["access_restriction"]
    where: Targets
    selector: Selector
    compliance: Probability = Field(1.0, description="share of selected parties stopped")


class ExitScreening(PolicyBase):
    """Draft offices: men served summonses and turned back, slower checks, deterrence."""

    type: Literal["exit_screening"]
    where: Targets
    attribute: Identifier = "military_age_man"
    turn_back_share: Probability
    extra_minutes: NonNegative = Field(0.0, description="added to the exit check of a party")
    deterrence: Probability = Field(
        0.0, description="share of informed parties with such persons who avoid the checkpoint"
    )


class CapacityChange(PolicyBase):
    """Lanes and/or service times of one mode at one checkpoint change."""

    type: Literal["capacity_change"]
    checkpoint: CheckpointId
    mode: Mode
    stages: list[Stage] = Field(default_factory=lambda: ["exit", "entry"], min_length=1)
    lanes: Lanes | None = None
    service_multiplier: Positive | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> CapacityChange:
        if self.lanes is None and self.service_multiplier is None:
            raise ValueError("set lanes and/or service_multiplier")
        return self


class Closure(PolicyBase):
    """A checkpoint stops all service and reopens at `end` (if given)."""

    type: Literal["closure"]
    checkpoint: CheckpointId


PolicySpec = Annotated[
    EntryBan | AccessRestriction | ExitScreening | CapacityChange | Closure,
    Field(discriminator="type"),
]


# --- the scenario -----------------------------------------------------------------------


class Horizon(Frozen):
    """The simulated period."""

    start: AwareDatetime
    end: AwareDatetime
    warmup_end: AwareDatetime | None = Field(
        None,
        description="outputs of local days starting before this are dropped (the system "
        "fills up from empty roads until then)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Horizon:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.warmup_end is not None and not self.start <= self.warmup_end < self.end:
            raise ValueError("warmup_end must lie within the horizon")
        if self.end - self.start > dt.timedelta(days=3660):
            raise ValueError("a horizon longer than ten years is not supported")
        return self


class Scenario(Frozen):
    """A complete, validated scenario."""

    name: Identifier
    description: str = ""
    horizon: Horizon
    seed: Annotated[int, Field(ge=0, lt=2**63, strict=True)] = 0
    replications: Annotated[int, Field(ge=1, le=100_000, strict=True)] = 10
    parameters: dict[Identifier, Parameter] = Field(default_factory=dict)
    attributes: dict[Identifier, Attribute] = Field(default_factory=dict)
    countries: dict[str, Country] = Field(min_length=1)
    checkpoints: dict[CheckpointId, Checkpoint] = Field(min_length=1)
    demand: Demand
    policies: dict[Identifier, PolicySpec] = Field(default_factory=dict)
    posterior: str | None = Field(
        None,
        description="a posterior.csv written by `flowsim calibrate`, relative to the file "
        "that names it: replication r then takes its parameters from draw r",
    )
    #: the merged file before parameter references were resolved (`flowsim.parameter_draws`)
    _raw: Any = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Equal fields: where a scenario was read from does not make it another scenario."""
        if not isinstance(other, Scenario):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # (its dict fields were never hashable)

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        check_references(self)
        return self


class ReferenceError_(ValueError):
    """A cross-reference problem, with the field path it concerns."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def _unknown(kind: str, name: str, known: Any) -> str:
    names = sorted(known)
    hint = did_you_mean(name, names) or f" (known: {', '.join(names)})"
    return f"unknown {kind} {name!r}{hint}"


#: A checkpoint or country of this name would collide with the totals of daily.csv.
RESERVED_NAME = "all"


def _check_names(s: Scenario) -> None:
    for kind, names in (("checkpoints", s.checkpoints), ("countries", s.countries)):
        if RESERVED_NAME in names:
            raise ReferenceError_(
                f"{kind}.{RESERVED_NAME}",
                f"{RESERVED_NAME!r} is reserved (results use checkpoint={RESERVED_NAME} "
                "for country totals); choose another name",
            )
    for name in s.countries:
        if "+" in name or name != name.strip() or not name:
            raise ReferenceError_(
                f"countries.{name}",
                f"country name {name!r} may not contain '+' (observations sum places with it) "
                "or start or end with a space",
            )


def check_references(s: Scenario) -> None:
    """Raise `ReferenceError_` on the first reference to something the scenario lacks."""
    _check_names(s)
    attrs = s.attributes
    modes = {m for cp in s.checkpoints.values() for m in cp.modes}
    if len(attrs) > 10:
        raise ReferenceError_(
            "attributes", f"at most 10 attributes are supported, got {len(attrs)}"
        )
    order = list(attrs)
    for name, attr in attrs.items():
        if attr.given is not None:
            if attr.given in attrs and order.index(attr.given) >= order.index(name):
                raise ReferenceError_(
                    f"attributes.{name}.given", f"{attr.given!r} must be declared before {name!r}"
                )
            if attr.given not in attrs:
                raise ReferenceError_(
                    f"attributes.{name}.given", _unknown("attribute", attr.given, attrs)
                )
            if attrs[attr.given].per != "party":
                raise ReferenceError_(f"attributes.{name}.given", "must name a per-party attribute")
    for name, country in s.countries.items():
        for i, req in enumerate(country.requires):
            if req not in attrs:
                raise ReferenceError_(
                    f"countries.{name}.requires[{i}]", _unknown("attribute", req, attrs)
                )
            if attrs[req].per != "party":
                raise ReferenceError_(
                    f"countries.{name}.requires[{i}]", "must be a per-party attribute"
                )
    clock = Clock(s.horizon.start, s.horizon.end)
    if s.horizon.start.minute or s.horizon.start.second or s.horizon.start.microsecond:
        raise ReferenceError_(
            "horizon.start", "must be on the hour (flows are kept in hourly bins)"
        )
    for cid, cp in s.checkpoints.items():
        if not clock.whole_hour_offsets(cp.timezone):
            raise ReferenceError_(
                f"checkpoints.{cid}.timezone",
                f"{cp.timezone} is not a whole number of hours off the horizon start "
                "(not supported)",
            )
        if cp.country not in s.countries:
            raise ReferenceError_(
                f"checkpoints.{cid}.country", _unknown("country", cp.country, s.countries)
            )
    for cname, klass in s.demand.classes.items():
        for mode in klass.modes:
            if mode not in modes:
                raise ReferenceError_(
                    f"demand.classes.{cname}.modes.{mode}", _unknown("mode", mode, modes)
                )
    for oid, origin in s.demand.origins.items():
        for cid in origin.travel_hours:
            if cid not in s.checkpoints:
                raise ReferenceError_(
                    f"demand.origins.{oid}.travel_hours.{cid}",
                    _unknown("checkpoint", cid, s.checkpoints),
                )
        for cname in origin.class_shares or {}:
            if cname not in s.demand.classes:
                raise ReferenceError_(
                    f"demand.origins.{oid}.class_shares.{cname}",
                    _unknown("party class", cname, s.demand.classes),
                )
        for aname in origin.attribute_shares:
            if aname not in attrs:
                raise ReferenceError_(
                    f"demand.origins.{oid}.attribute_shares.{aname}",
                    _unknown("attribute", aname, attrs),
                )
        if origin.class_shares and not math.isclose(
            sum(origin.class_shares.values()), 1.0, abs_tol=1e-6
        ):
            total = sum(origin.class_shares.values())
            raise ReferenceError_(
                f"demand.origins.{oid}.class_shares", f"shares sum to {total:g}, not 1"
            )
    if any(not o.class_shares for o in s.demand.origins.values()):
        total = sum(c.share for c in s.demand.classes.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ReferenceError_("demand.classes", f"the classes' shares sum to {total:g}, not 1")
    surge_total = sum(o.surge_share for o in s.demand.origins.values())
    if s.demand.surge and not math.isclose(surge_total, 1.0, abs_tol=1e-6):
        raise ReferenceError_("demand.origins", f"surge_share values sum to {surge_total:g}, not 1")
    _check_departures(s)
    knots = [k.at for k in s.demand.surge]
    if knots != sorted(knots):
        raise ReferenceError_("demand.surge", "knots must be in time order")
    changes = [c.at for c in s.demand.normal_traffic]
    if changes != sorted(set(changes)):
        raise ReferenceError_("demand.normal_traffic", "changes must be in strict time order")
    _check_policies(s, attrs, modes)


def _check_departures(s: Scenario) -> None:
    for name, country in s.countries.items():
        routes = country.departures
        for i, route in enumerate(routes):
            if route.to == "return":
                continue
            cp = s.checkpoints.get(route.to)
            if cp is None:
                raise ReferenceError_(
                    f"countries.{name}.departures[{i}].to",
                    _unknown("checkpoint", route.to, [*s.checkpoints, "return"]),
                )
            if cp.country != name:
                raise ReferenceError_(
                    f"countries.{name}.departures[{i}].to",
                    f"checkpoint {route.to!r} is in {cp.country}, not in {name}",
                )
        for key in ("share", "surge_share"):
            total = sum(getattr(r, key) if getattr(r, key) is not None else r.share for r in routes)
            if total > 1 + 1e-9:
                raise ReferenceError_(
                    f"countries.{name}.departures", f"the routes' {key} values sum to {total:g}"
                )


def _check_policies(s: Scenario, attrs: dict[str, Attribute], modes: set[str]) -> None:
    for pid, p in s.policies.items():
        base = f"policies.{pid}"
        if p.announced is not None and not isinstance(p, EntryBan | AccessRestriction):
            raise ReferenceError_(
                f"{base}.announced",
                f"only an entry_ban or an access_restriction can be announced (a {p.type} "
                "acts only from its start)",
            )
        # A policy in force before the horizon would need state the run does not have; one
        # starting after it is harmless (flowsim.checks warns), and so is an end after it.
        if p.start < s.horizon.start:
            raise ReferenceError_(
                f"{base}.start",
                f"{p.start.isoformat()} is before the horizon starts "
                f"({s.horizon.start.isoformat()}); a policy already in force by then "
                "should start at the horizon start",
            )
        where = getattr(p, "where", None)
        if where is not None:
            for i, cid in enumerate(where.checkpoints):
                if cid not in s.checkpoints:
                    raise ReferenceError_(
                        f"{base}.where.checkpoints[{i}]", _unknown("checkpoint", cid, s.checkpoints)
                    )
            for i, country in enumerate(where.countries):
                if country not in s.countries:
                    raise ReferenceError_(
                        f"{base}.where.countries[{i}]", _unknown("country", country, s.countries)
                    )
        cid = getattr(p, "checkpoint", None)
        if cid is not None and cid not in s.checkpoints:
            raise ReferenceError_(f"{base}.checkpoint", _unknown("checkpoint", cid, s.checkpoints))
        attr = getattr(p, "attribute", None)
        if attr is not None and attr not in attrs:
            raise ReferenceError_(f"{base}.attribute", _unknown("attribute", attr, attrs))
        if isinstance(p, ExitScreening) and attrs[p.attribute].per != "person":
            raise ReferenceError_(
                f"{base}.attribute", "exit screening needs a per-person attribute"
            )
        if isinstance(p, AccessRestriction):
            for key in ("with_", "without"):
                for i, a in enumerate(getattr(p.selector, key)):
                    if a not in attrs:
                        raise ReferenceError_(
                            f"{base}.selector.{key.rstrip('_')}[{i}]",
                            _unknown("attribute", a, attrs),
                        )
            for i, m in enumerate(p.selector.modes or []):
                if m not in modes:
                    raise ReferenceError_(f"{base}.selector.modes[{i}]", _unknown("mode", m, modes))
        if isinstance(p, CapacityChange) and p.mode not in s.checkpoints[p.checkpoint].modes:
            raise ReferenceError_(
                f"{base}.mode",
                _unknown(f"mode at {p.checkpoint}", p.mode, s.checkpoints[p.checkpoint].modes),
            )
    _check_capacity_overlaps(s)


def _check_capacity_overlaps(s: Scenario) -> None:
    """Two capacity changes may not set the same thing of the same stage at the same time.

    Which one would win, and what the end of one would restore, is not defined.
    """
    changes = [(pid, p) for pid, p in s.policies.items() if isinstance(p, CapacityChange)]
    for i, (pid, p) in enumerate(changes):
        for qid, q in changes[:i]:
            if (p.checkpoint, p.mode) != (q.checkpoint, q.mode) or not set(p.stages) & set(
                q.stages
            ):
                continue
            fields = [
                f
                for f in ("lanes", "service_multiplier")
                if getattr(p, f) is not None and getattr(q, f) is not None
            ]
            p_end, q_end = p.end or s.horizon.end, q.end or s.horizon.end
            if fields and p.start < q_end and q.start < p_end:
                raise ReferenceError_(
                    f"policies.{pid}",
                    f"sets {fields[0]} of {p.checkpoint} {p.mode} while policy {qid!r} does too "
                    "(contradictory overlapping capacity changes; end one before the other starts)",
                )


def json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario format (the ``extends`` key is added by the loader)."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["properties"]["extends"] = {
        "type": "string",
        "description": "path of a scenario this one overrides, relative to this file",
    }
    _allow_parameter_references(schema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "flowsim scenario"
    return schema


def _allow_parameter_references(node: Any) -> None:
    """Let every number in the JSON Schema also be a ``$name`` parameter reference."""
    reference = {"type": "string", "pattern": r"^\$[a-z][a-z0-9_]*$"}

    def wrap(value: Any) -> Any:
        if isinstance(value, dict) and value.get("type") in ("number", "integer"):
            return {"anyOf": [value, reference]}
        _allow_parameter_references(value)
        return value

    if isinstance(node, dict):
        for key, value in list(node.items()):
            node[key] = [wrap(v) for v in value] if isinstance(value, list) else wrap(value)
