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
