import importlib

import mahavishnu


def test_all_is_complete_and_every_name_resolves():
    for name in mahavishnu.__all__:
        assert getattr(mahavishnu, name) is not None, name
    errors = importlib.import_module("mahavishnu.errors")
    public_errors = {n for n in dir(errors) if n.endswith("Error") and not n.startswith("_")}
    assert public_errors <= set(mahavishnu.__all__)


def test_exception_tree_has_one_root():
    for name in mahavishnu.__all__:
        value = getattr(mahavishnu, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, mahavishnu.MahavishnuError), name
