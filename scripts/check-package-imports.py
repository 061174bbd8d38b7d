#!/usr/bin/env python3
"""Checks that Package.swift declares, for every target, exactly the modules its Swift files
import: nothing used without being declared (it would build only by accident, through another
target's dependency), nothing declared but unused. Toolchain modules are exempt.

Usage: scripts/check-package-imports.py   (from anywhere; exits 1 and names each mismatch)
"""
import glob
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TOOLCHAIN = {"Foundation", "FoundationEssentials", "Testing", "Synchronization", "Dispatch", "Glibc", "Musl"}
# Modules a package builds for its product but does not vend as a product of their own, so
# they cannot be declared: importable where the product that carries them is declared.
# CYaml is Yams's libyaml; `mutate` reads YAML from its events (Offline/YAMLReader.swift)
# because Yams.compose refuses keys that are only canonically equivalent.
CARRIED = {"CYaml": "Yams"}


def main():
    package = open(os.path.join(ROOT, "Package.swift")).read()
    targets = re.findall(
        r'\.(?:target|testTarget|executableTarget)\(\s*name: "([^"]+)",(.*?)swiftSettings', package, re.S)
    problems = []
    for name, body in targets:
        declared = set(re.findall(r'\.product\(name: "([^"]+)"', body))
        declared |= set(re.findall(r'"([A-Za-z][A-Za-z-]*)"(?=[,\]])', re.sub(r'\.product\([^)]*\)', "", body)))
        declared = {d.replace("-", "_") for d in declared} - {"Fixtures"}
        folder = next(p for p in (os.path.join(ROOT, "Sources", name), os.path.join(ROOT, "Tests", name))
                      if os.path.isdir(p))
        imported = set()
        for path in glob.glob(os.path.join(folder, "**", "*.swift"), recursive=True):
            imported |= set(re.findall(r"^(?:@testable |public |package )?import (\w+)", open(path).read(), re.M))
        imported -= TOOLCHAIN
        imported -= {module for module, product in CARRIED.items() if product in declared}
        for module in sorted(imported - declared):
            problems.append(f"{name} imports {module} without declaring it")
        for module in sorted(declared - imported):
            problems.append(f"{name} declares {module} but imports it nowhere")
    for problem in problems:
        print(problem)
    print(f"{len(targets)} targets, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
