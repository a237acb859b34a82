import pytest

from skdnn.components._registry import (
    Component,
    Registry,
    accepted_keywords,
    check_keywords,
    format_choices,
    unknown_value_message,
)
from skdnn.exceptions import UnknownComponentError


def scaled(value, factor=2.0, offset=0.0):
    return value * factor + offset


def anything(**kwargs):
    return kwargs


@pytest.fixture
def registry():
    registry = Registry("widget")
    registry.add("scaled", scaled, "value * factor + offset", aliases=("linear",), factor=3.0)
    registry.add("anything", anything, "takes any keyword")
    registry.add("sum", lambda a, b: a + b, "a + b")
    return registry


def test_names_and_aliases(registry):
    assert registry.names() == ["anything", "linear", "scaled", "sum"]
    assert registry.names(aliases=False) == ["anything", "scaled", "sum"]
    assert registry.canonical("linear") == "scaled"
    assert registry.resolve("linear") is registry.resolve("scaled")
    assert "linear" in registry
    assert "Scaled" not in registry
    assert registry.describe() == {
        "anything": "takes any keyword",
        "scaled": "value * factor + offset",
        "sum": "a + b",
    }


def test_unknown_name_message(registry):
    with pytest.raises(UnknownComponentError) as info:
        registry.resolve("scaed")
    assert isinstance(info.value, ValueError)
    assert str(info.value) == (
        "Unknown widget 'scaed'. Valid values are: 'anything', 'linear', 'scaled', 'sum'."
        " Did you mean 'scaled'?"
    )


@pytest.mark.parametrize("value", ["zzzzzz", 3, None, ["scaled"]])
def test_unknown_without_close_match(registry, value):
    with pytest.raises(UnknownComponentError, match="Valid values are") as info:
        registry.build(value)
    assert repr(value) in str(info.value)
    assert "Did you mean" not in str(info.value)


def test_close_match_ignores_case():
    assert unknown_value_message("x", "RELU", ["relu", "elu"]).endswith("Did you mean 'relu'?")


@pytest.mark.parametrize("name", ["scaled", "linear"])
def test_duplicate_registration_refused(registry, name):
    with pytest.raises(ValueError, match=f"widget '{name}' is already registered"):
        registry.add(name, scaled, "again")
    with pytest.raises(ValueError, match="already registered"):
        registry.add("new", scaled, "again", aliases=(name,))
    assert "new" not in registry  # a refused registration adds nothing


def test_build_merges_defaults_params_and_context(registry):
    assert registry.build("scaled", value=1.0) == 3.0  # registered default factor=3
    assert registry.build("linear", {"factor": 5.0}, value=1.0) == 5.0  # params beat defaults
    assert registry.build("scaled", {"offset": 1.0}, value=2.0) == 7.0
    assert registry.build("scaled", {"factor": 5.0}, value=1.0, factor=7.0) == 7.0  # context wins
    assert registry.build("sum", {"a": 1}, b=2) == 3


def test_unknown_params_listed(registry):
    with pytest.raises(ValueError, match=r"'scale' for widget 'scaled'; accepted: 'factor'"):
        registry.build("linear", {"scale": 1.0}, value=1.0)
    with pytest.raises(ValueError) as info:
        registry.build("scaled", {"b": 1, "a": 2}, value=1.0)
    assert str(info.value) == (
        "Unknown parameter(s) 'a', 'b' for widget 'scaled'; accepted: 'factor', 'offset', 'value'."
    )
    assert registry.build("anything", {"whatever": 1}) == {"whatever": 1}  # **kwargs: unchecked


def test_check_keywords_reserved_and_none():
    with pytest.raises(ValueError, match=r"'value' for thing; accepted: 'factor', 'offset'\."):
        check_keywords(scaled, {"value": 1}, "thing", reserved=("value",))
    with pytest.raises(ValueError, match="accepted: none"):
        check_keywords(lambda: None, {"x": 1}, "thing")
    check_keywords(scaled, {"factor": 1}, "thing")


def test_accepted_keywords():
    class Thing:
        def __init__(self, a, /, b, *, c=1):
            pass

    assert accepted_keywords(Thing) == ["b", "c"]
    assert accepted_keywords(anything) is None


def test_component_is_frozen():
    component = Component("a", scaled, "doc")
    assert component.defaults == {}
    with pytest.raises(AttributeError):
        component.name = "b"


def test_format_choices_sorted():
    assert format_choices(["b", "a", "c"]) == "'a', 'b', 'c'"
