"""The cohort map: L_AC - L_C (or any loss against a reference) per cohort setting and phantom seed, with intervals.

    python tools/cohort_map.py --spec docs/map/spec.json --out docs/map [--coverage] [--update]

Reads each point's result folders (tools/cross_validate.py outputs, one per phantom seed), pairs the loss with the
reference per patient and writes OUT/map.csv (every number), OUT/patients.csv (every patient's pair),
OUT/map.md (the table) and OUT/map.png (a forest plot). --coverage adds G's fat fraction against the patients'
and F's change of held-out healthy thighs per seed (loads every run's checkpoint: about a second per run).
--update keeps the points OUT's map already holds as they were measured (no result folder read) and computes only
the spec's new points: a map grows after the folders of its earlier points are gone.
See mmac.report.cohort_map for the spec and the statistics.
"""
import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--spec', required=True, help='the map spec (JSON; see mmac.report.cohort_map)')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--coverage', action='store_true', help="add G's pathology coverage per seed (mechanism)")
    p.add_argument('--update', action='store_true',
                   help="keep the points OUT/map.csv already holds; compute only the spec's points it lacks")
    args = p.parse_args(argv)
    from mmac.report.cohort_map import add_coverage, cohort_map, read_map, read_spec, update_map, write_map
    from mmac.runner.launch import cli_error

    try:
        options, points = read_spec(args.spec)

        def compute(todo):
            table, patients = cohort_map(todo, **options)
            if args.coverage:
                table = add_coverage(table, todo, options['loss'], options['group'])
            return table, patients

        if args.update:
            table, patients, new = update_map(points, read_map(args.out), compute)
            print(f"kept {len(points) - len(new)} points of {args.out}; computed {[p.name for p in new]}")
        else:
            table, patients = compute(points)
    except (FileNotFoundError, ValueError) as exc:
        return cli_error(exc)
    print(write_map(table, patients, args.out, source=args.spec, **options))
    out = Path(args.out)
    print(f"written: {out / 'map.csv'}, {out / 'map.md'}, {out / 'map.png'}")
    return 0

if __name__ == '__main__':
    from mmac._compat import quiet_third_party_warnings

    quiet_third_party_warnings()
    sys.exit(main())
