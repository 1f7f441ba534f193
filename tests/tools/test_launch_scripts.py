"""tools/slurm_{train,test}.sh and tools/dist_{train,test}.sh: argument handling, with a fake srun / python."""
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

RECORDER = """#!/usr/bin/env bash
{{ echo "MASTER_PORT=${{MASTER_PORT:-}}"; for a in "$@"; do echo "ARG=$a"; done; }} > "{out}"
"""
# python -c (a launcher's own helper code) runs for real; anything else is recorded
PYTHON = """#!/usr/bin/env bash
if [ "${{1:-}}" = -c ]; then exec "{python}" "$@"; fi
""" + RECORDER.split("\n", 1)[1]
# with FAKE_SRUN_JOB_ID, srun runs its command (the arguments after its options) as a task of that job would
SRUN = """#!/usr/bin/env bash
if [ -n "${{FAKE_SRUN_JOB_ID:-}}" ]; then
  while [ $# -gt 0 ]; do
    case $1 in -p) shift 2 ;; -*) shift ;; *) break ;; esac
  done
  SLURM_JOB_ID=$FAKE_SRUN_JOB_ID exec "$@"
fi
""" + RECORDER.split("\n", 1)[1]


@pytest.fixture
def fake_bin(tmp_path):
    """A folder with fake ``srun`` and ``python`` that write their arguments and MASTER_PORT to a file."""
    folder = tmp_path / 'bin'
    folder.mkdir()
    record = tmp_path / 'call.txt'
    for name, template in (('srun', SRUN), ('python', PYTHON)):
        (folder / name).write_text(template.format(out=record, python=sys.executable))
        (folder / name).chmod(0o755)
    return folder, record


def run(script, args, fake_bin, **env):
    folder, record = fake_bin
    base = {k: v for k, v in os.environ.items()
            if k not in ('SLURM_JOB_ID', 'MASTER_PORT', 'PORT', 'GPUS', 'NNODES', 'FAKE_SRUN_JOB_ID')}
    environ = dict(base, PATH=f"{folder}:{os.environ['PATH']}", PYTHON=str(folder / 'python'), **env)
    proc = subprocess.run([str(REPO / 'tools' / script), *args], capture_output=True, text=True, env=environ)
    if not record.exists():
        return proc, None, []
    lines = record.read_text().splitlines()
    record.unlink()
    return proc, lines[0].split('=', 1)[1], [line[4:] for line in lines[1:]]


@pytest.mark.parametrize('script, tool, fixed', [
    ('slurm_train.sh', 'train.py', ['cfg.py', '--work-dir=work dir']),
    ('slurm_test.sh', 'test.py', ['cfg.py', 'w/iter_8.pth']),
])
def test_slurm_scripts_pass_arguments_to_srun(script, tool, fixed, fake_bin):
    fourth = 'work dir' if script == 'slurm_train.sh' else 'w/iter_8.pth'
    proc, port, args = run(script, ['gpu', 'job1', 'cfg.py', fourth, '--cfg-options', 'a.b=1 2'], fake_bin,
                           GPUS='4', GPUS_PER_NODE='2', SLURM_JOB_ID='1234')
    assert proc.returncode == 0, proc.stderr
    assert args[:7] == ['-p', 'gpu', '--job-name=job1', '--gres=gpu:2', '--ntasks=4', '--ntasks-per-node=2',
                        '--cpus-per-task=5']
    i = args.index(str(fake_bin[0] / 'python'))
    assert args[i + 1] == '-u' and args[i + 2] == str(REPO / 'tools' / tool)
    assert args[i + 3:] == [*fixed, '--launcher=slurm', '--cfg-options', 'a.b=1 2']
    assert port == str(20000 + 1234 % 20000)


@pytest.mark.parametrize('script', ['slurm_train.sh', 'slurm_test.sh'])
def test_slurm_master_port_differs_per_job_and_can_be_set(script, fake_bin):
    argv = ['gpu', 'job', 'cfg.py', 'x']
    ports = {run(script, argv, fake_bin, SLURM_JOB_ID=str(job))[1] for job in (7001, 7002)}
    assert len(ports) == 2 and '29500' not in ports
    assert run(script, argv, fake_bin, MASTER_PORT='31234')[1] == '31234'
    assert run(script, argv, fake_bin, MASTER_PORT='31234', SLURM_JOB_ID='7001')[1] == '31234'


@pytest.mark.parametrize('script, tool', [('slurm_train.sh', 'train.py'), ('slurm_test.sh', 'test.py')])
def test_slurm_outside_an_allocation_takes_the_port_from_the_job_srun_makes(script, tool, fake_bin):
    """From a login node there is no job id yet: the script sets no port, and each task derives it from the id of
    the job srun makes (here job 64321: 20000 + 64321 % 20000 = 24321), arguments passed through unchanged."""
    argv = ['gpu', 'job', 'cfg.py', 'x', '--cfg-options', 'a.b=1 2']
    proc, port, args = run(script, argv, fake_bin)
    assert proc.returncode == 0, proc.stderr
    assert port == ''  # not the login node's process id or any other guess
    assert args[args.index('-c') - 1] == 'bash'
    proc, port, args = run(script, argv, fake_bin, FAKE_SRUN_JOB_ID='64321')
    assert proc.returncode == 0, proc.stderr
    assert port == '24321'
    assert args[:2] == ['-u', str(REPO / 'tools' / tool)] and args[-3:] == ['--launcher=slurm', '--cfg-options',
                                                                            'a.b=1 2']


def test_slurm_srun_args_are_split(fake_bin):
    _, _, args = run('slurm_train.sh', ['gpu', 'j', 'c.py', 'w'], fake_bin, SRUN_ARGS='--quotatype=auto --mem=0')
    assert '--quotatype=auto' in args and '--mem=0' in args


@pytest.mark.parametrize('script, usage', [
    ('slurm_train.sh', 'tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR'),
    ('slurm_test.sh', 'tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT'),
    ('dist_train.sh', 'tools/dist_train.sh CONFIG NUM_PROCS_PER_NODE'),
    ('dist_test.sh', 'tools/dist_test.sh CONFIG CHECKPOINT NUM_PROCS_PER_NODE'),
])
def test_too_few_arguments_print_the_scripts_own_usage(script, usage, fake_bin):
    proc, _, args = run(script, ['cfg.py'], fake_bin)
    assert proc.returncode == 2 and args == []
    assert proc.stderr.startswith(f'usage: {usage}'), proc.stderr


def test_dist_test_passes_checkpoint_and_arguments(fake_bin):
    proc, _, args = run('dist_test.sh', ['cfg.py', 'w/iter_8.pth', '2', '--amp'], fake_bin, PORT='29911')
    assert proc.returncode == 0, proc.stderr
    assert args[:2] == ['-m', 'torch.distributed.run'] and '--nproc_per_node=2' in args
    assert '--master_port=29911' in args
    i = args.index(str(REPO / 'tools' / 'test.py'))
    assert args[i + 1:] == ['cfg.py', 'w/iter_8.pth', '--launcher', 'pytorch', '--amp']


@pytest.mark.parametrize('script, argv', [('dist_train.sh', ['cfg.py', '2']),
                                          ('dist_test.sh', ['cfg.py', 'w/iter_8.pth', '2'])])
def test_dist_scripts_pick_a_free_port_when_none_is_set(script, argv, fake_bin):
    import re
    import socket

    proc, _, args = run(script, argv, fake_bin)
    assert proc.returncode == 0, proc.stderr
    port = int(next(a for a in args if a.startswith('--master_port=')).split('=', 1)[1])
    assert port != 29500 and 1024 <= port < 65536
    assert re.search(rf'MASTER_PORT unset, using free port {port}$', proc.stderr.strip())
    with socket.socket() as s:  # free: it can be bound (as torchrun will)
        s.bind(('', port))


@pytest.mark.parametrize('env, expected', [
    ({'MASTER_PORT': '29911'}, '29911'),
    ({'PORT': '29912'}, '29912'),  # the name OpenMMLab's scripts use
    ({'MASTER_PORT': '29911', 'PORT': '29912'}, '29911'),
    ({'NNODES': '2', 'NODE_RANK': '0'}, '29500'),  # several nodes: one port every node can name
])
def test_dist_train_port_from_the_environment(env, expected, fake_bin):
    proc, _, args = run('dist_train.sh', ['cfg.py', '2'], fake_bin, **env)
    assert proc.returncode == 0, proc.stderr
    assert f'--master_port={expected}' in args and 'free port' not in proc.stderr
