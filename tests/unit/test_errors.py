import pytest

from shipyard_sdk import errors


def test_every_error_has_a_status_and_round_trips() -> None:
    classes = [getattr(errors, name) for name in errors.__all__ if name[0].isupper()]
    for cls in classes:
        assert 400 <= cls.http_status < 600
        error = cls("it broke")
        back = errors.error_from_payload(cls.http_status, errors.error_body(error))
        assert type(back) is cls
        assert back.message == "it broke"


@pytest.mark.parametrize(
    ("status", "cls"), [(404, errors.NotFound), (409, errors.Conflict), (502, errors.ShipyardError)]
)
def test_unknown_type_falls_back_on_status(status: int, cls: type) -> None:
    back = errors.error_from_payload(status, {"error": {"type": "Brand new", "message": "m"}})
    assert type(back) is cls
    assert back.message == "m"


def test_non_json_error_keeps_status() -> None:
    assert errors.error_from_payload(502, None).message == "HTTP 502"
