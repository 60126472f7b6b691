"""The guard against its labelled evaluation set (tests/data/guard/samples.json): it misses no
HIGH sample, warns on every MEDIUM one, and holds no clean one."""

from __future__ import annotations

from collections import Counter

import pytest

from agentpost.domain.guard import ATTACHMENT_RULES, TEXT_RULES, Severity
from agentpost.domain.guard.policy import Action, GuardPolicy, RecipientClass, action_for
from agentpost.testing.guard_samples import Sample, load_samples

SAMPLES = load_samples()
STRANGER = {RecipientClass.stranger}


def _ids(sample: Sample) -> str:
    return sample.id


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.label == "HIGH"], ids=_ids)
def test_every_high_sample_is_held_for_strangers(sample: Sample) -> None:
    findings = sample.scan()
    assert set(sample.expect) <= {f.rule_id for f in findings}
    assert action_for(GuardPolicy(), findings, STRANGER)[0] is Action.hold


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.label == "MEDIUM"], ids=_ids)
def test_every_medium_sample_is_sent_with_a_warning(sample: Sample) -> None:
    findings = sample.scan()
    assert set(sample.expect) <= {f.rule_id for f in findings}
    assert action_for(GuardPolicy(), findings, STRANGER)[0] is Action.warn


@pytest.mark.parametrize("sample", [s for s in SAMPLES if s.label == "CLEAN"], ids=_ids)
def test_no_clean_sample_is_held_or_warned_about(sample: Sample) -> None:
    findings = sample.scan()
    assert [f for f in findings if f.severity is not Severity.low] == []
    assert action_for(GuardPolicy(), findings, STRANGER)[0] is not Action.hold


def test_the_set_covers_every_high_rule_and_plenty_of_clean_mail() -> None:
    high_rules = {r.id for r in TEXT_RULES if r.severity is Severity.high}
    high_rules |= {rule_id for rule_id, sev, _ in ATTACHMENT_RULES if sev is Severity.high}
    expected = {rule for s in SAMPLES if s.label == "HIGH" for rule in s.expect}
    assert high_rules <= expected
    labels = Counter(s.label for s in SAMPLES)
    assert labels["CLEAN"] >= 40 and labels["MEDIUM"] >= 10
