"""Atomic writes leave either the complete new file or nothing new."""
import json

import pandas as pd
import pytest

from mmac.fileio import atomic_path, write_csv_atomic, write_json_atomic, write_text_atomic


def test_writes_create_parent_and_content(tmp_path):
    write_text_atomic(tmp_path / 'a' / 'x.md', 'hello')
    write_json_atomic(tmp_path / 'b.json', {'k': 1})
    write_csv_atomic(pd.DataFrame({'v': [1, 2]}), tmp_path / 'c.csv')
    assert (tmp_path / 'a' / 'x.md').read_text() == 'hello'
    assert json.loads((tmp_path / 'b.json').read_text()) == {'k': 1}
    assert (tmp_path / 'c.csv').read_text().splitlines() == ['v', '1', '2']


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / 'x.txt'
    target.write_text('old')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            open(tmp, 'w').write('half')
            raise RuntimeError('crash')
    assert target.read_text() == 'old'
    assert [p.name for p in tmp_path.iterdir()] == ['x.txt']


@pytest.mark.parametrize('mask, mode', [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_mode_of_a_plain_open(tmp_path, umask, mask, mode):
    import stat

    umask(mask)
    written = write_text_atomic(tmp_path / 'report.md', 'x')
    plain = tmp_path / 'plain.md'
    plain.write_text('x')
    assert stat.S_IMODE(written.stat().st_mode) == mode  # 0o666 & ~umask, worked by hand
    assert stat.S_IMODE(plain.stat().st_mode) == mode  # what open(path, 'w') gives


def test_replaced_file_keeps_its_mode(tmp_path, umask):
    import os
    import stat

    umask(0o022)
    target = tmp_path / 'shared.csv'
    target.write_text('old')
    os.chmod(target, 0o640)
    write_csv_atomic(pd.DataFrame({'v': [1]}), target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text().splitlines() == ['v', '1']


def test_umask_without_proc_status(monkeypatch, umask):
    import mmac.fileio as fileio

    umask(0o027)

    def no_proc(*args, **kwargs):
        raise OSError('no /proc')

    monkeypatch.setattr(fileio, 'open', no_proc, raising=False)
    assert fileio.current_umask() == 0o027
    monkeypatch.undo()
    assert fileio.current_umask() == 0o027  # unchanged by the read
