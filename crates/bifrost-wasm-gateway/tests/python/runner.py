"""Runs a module's `test_*` functions without pytest: prints "ok"/"FAIL" per test and the
closing "N passed, N failed" line; exits 1 when any failed or none ran."""

import sys
import traceback


def run(namespace):
    tests = [(name, fn) for name, fn in sorted(namespace.items()) if name.startswith("test_") and callable(fn)]
    passed = failed = 0
    for name, fn in tests:
        try:
            fn()
        except Exception:  # noqa: BLE001 - report every failure and go on
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc()
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed or not passed else 0)
