"""README's two set-up commands stay true: CI runs exactly the test command."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]


def _commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands on a fresh machine", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)]


def test_readme_gives_exactly_two_commands():
    commands = _commands()
    assert len(commands) == 2
    assert "cinemap --demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _commands()[1] in ci


def test_ci_runs_the_gui_tests_again_under_a_cpu_hog_on_both_cores():
    ci = (ROOT / ".ci" / "run").read_text()
    after = ci.split(_commands()[1], 1)[1]
    hog = after.index('python3 -c "while 1: pass" &')
    assert "for _ in 1 2; do" in after[:hog] and "trap stop_hogs EXIT" in after[:hog]
    assert re.search(r"^\.venv/bin/python -m pytest .*tests/ui$", after[hog:], re.M)
