#!/usr/bin/env python3
"""Writes test/fixtures/pyyaml-scalars.json: how PyYAML's yaml.safe_load (SkyPilot's loader) reads
plain scalars. Run once (python3 scripts/pyyaml-scalars.py); the table is committed and
test/unit/task/pyyaml-scalars.test.ts checks skyhop's resolver against every entry.

Each entry: {"text": plain scalar as written, "type": str|int|float|bool|null|date|datetime|error,
"value": a JSON rendering (int: decimal string, float: repr, date: isoformat, error: message)}.
"""
import datetime
import itertools
import json
import math
import os
import sys

import yaml

SIGNS = ['', '-', '+']


def candidates():
    out = []
    add = out.append
    # Dots, lone punctuation, the forms of issue 10.
    for s in ['.', '..', '...', './', '.git', '.5', '+.5', '-.5', '1.', '-1.', '+1.', '0.', '.0', '0.0',
              '-0.0', '+0.0', '00.5', '1.5', '1.50', '1_0.0_1', '1__0.5', '_1.0', '1.0_', '1._5',
              '1e5', '1E5', '1e+5', '1e-5', '1.0e5', '1.0e+5', '1.0E+5', '1.0e-5', '1.e+5', '.5e+3',
              '.5E-3', '-1.0e+5', '+1.0e+5', '1.0e+05', '1.0e+', '1.0e', '1.0ee+5', '6.8523015e+5',
              '685.230_15e+03', '685_230.15', '190:20:30.15', '-190:20:30.15', '1:30.5', '1:60.5',
              '1e', 'e5', '1.2.3', '3.14159', '1,000.5', '0.1', '-0.1', '1.0.', '10.', '100.0',
              '12e03', '1_000e+3']:
        add(s)
    for s in ['.inf', '.Inf', '.INF', '.iNf', '-.inf', '+.inf', '-.Inf', '+.INF', 'inf', 'Infinity',
              '.nan', '.NaN', '.NAN', '.Nan', '-.nan', '+.nan', 'nan', 'NaN']:
        add(s)
    # Integers.
    for body in ['0', '00', '007', '017', '08', '09', '0_7', '1', '10', '123', '1_000', '1__0', '_1', '1_',
                 '0b101', '0b1_0', '0b102', '0B101', '0o17', '0O17', '0x1F', '0x1f', '0X1F', '0x_1F',
                 '0xG', '0x', '0b', '1:30', '1:3', '1:60', '1:59:59', '190:20:30', '01:30', '0:30',
                 '1:30:', '12345678901234567890', '9007199254740993', '2147483648', '1000000', '0_0']:
        for sign in SIGNS:
            add(sign + body)
    # Booleans, nulls, their case variants.
    for word in ['yes', 'no', 'true', 'false', 'on', 'off', 'y', 'n', 'null', '~']:
        variants = {word, word.upper(), word.capitalize(), word.lower()}
        for combo in itertools.product(*[(c.lower(), c.upper()) for c in word]):
            variants.add(''.join(combo))
        for v in sorted(variants):
            add(v)
    for s in ['Null', 'NULL', 'nUll', 'None', 'none', 'nil', '~~', 'Y', 'N', 'yes please', 'True!',
              'tru', 'onn', 'OFF-peak']:
        add(s)
    # Timestamps.
    for s in ['2024-01-01', '2024-1-1', '2024-01-01T12:30:00', '2024-01-01t12:30:00Z', '2024-01-01 12:30:00',
              '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5', '2001-12-15T02:59:43.1Z',
              '2002-12-14', '20240101', '2024/01/01', '24-01-01', '2024-13-01']:
        add(s)
    # Strings that look close to the above, and what task files hold.
    for s in ['abc', 'A100', 'A100:8', 'A100:0.5', 'v100', '1a', 'a1', '1-2', '1 2', '8080', '10000-10010',
              '16+', '64GB', '4+', 'us-east-1', 'aws/us-east-1', '~/data', '/tmp', '$HOME', '${X}', '=',
              '<<', '-', '+', '_', '0.5x', 'x0.5', '.x', '.1.', '1:', ':1', '1::2', '1:2:3:4', 'ami-0123',
              'm6i.large', 'p4d.24xlarge', '3.10', '3.9', '0.0.0.0', '127.0.0.1', '1.2e3', 'latest']:
        add(s)
    seen = set()
    uniq = []
    for s in out:
        if s not in seen:
            seen.add(s)
            uniq.append(s)
    return uniq


def render(v):
    if v is None:
        return 'null', None
    if isinstance(v, bool):
        return 'bool', v
    if isinstance(v, int):
        return 'int', str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return 'float', 'nan'
        return 'float', repr(v)
    if isinstance(v, datetime.datetime):
        return 'datetime', v.isoformat()
    if isinstance(v, datetime.date):
        return 'date', v.isoformat()
    if isinstance(v, str):
        return 'str', v
    raise TypeError(type(v))


def main():
    rows = []
    for text in candidates():
        try:
            loaded = yaml.safe_load('v: ' + text + '\n')
            kind, value = render(loaded['v'])
        except Exception as e:  # PyYAML itself rejects it (e.g. 0x_ has no digits, 2024-13-01).
            kind, value = 'error', type(e).__name__
        rows.append({'text': text, 'type': kind, 'value': value})
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures',
                       'pyyaml-scalars.json')
    with open(out, 'w') as f:
        json.dump({'generator': 'scripts/pyyaml-scalars.py', 'pyyaml': yaml.__version__,
                   'scalars': rows}, f, indent=1)
        f.write('\n')
    print(f'{len(rows)} scalars -> {os.path.normpath(out)}', file=sys.stderr)


if __name__ == '__main__':
    main()
