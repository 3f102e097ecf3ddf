#!/usr/bin/env python3
"""Mutation check: each change below once passed the whole suite although it
would hurt users. This tool applies each one to a scratch copy of the tree,
builds, runs the tests meant to catch it, and reports whether they failed, as
they must. It changes nothing in the tree it is run from.

  tools/mutation-test.py [--work DIR] [--only NAME]...

Exit 0 when every mutation was caught; 1 when one survived (or could not be
applied: the code it targets moved, and the mutation must be updated with it).
About 15 minutes on 2 cores (one build, then one incremental build per
mutation). CI does not run it; the README says how and what it printed.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, file, text to replace, replacement, build targets, test command run in the build folder)
MUTATIONS = [
    ("log batches not fsynced (sync = batch)", "storage/job_store.cc",
     "w.sync = options_.sync == SyncPolicy::kBatch;", "w.sync = false;",
     ["unit_tests"], ["./unit_tests", "-tc=*power loss*"]),
    ("output files not fsynced", "storage/output_file.cc",
     "    if (auto s = file_->sync(); !s) return s;\n", "",
     ["unit_tests"], ["./unit_tests", "-tc=*power loss*"]),
    ("interval sync: the background syncer never runs", "storage/job_store.cc",
     "if (!read_only_ && options_.sync == SyncPolicy::kInterval) syncer_ = std::thread([this] { sync_loop(); });",
     "", ["unit_tests"], ["./unit_tests", "-tc=interval sync*"]),
    ("the Retry-After header is not captured", "model/http_engine.cc",
     'if (header_value(line, "retry-after", value)) t->response.retry_after = value;',
     'if (header_value(line, "retry-after", value)) {}',
     ["model_tests"], ["./model_tests", "-tc=*Retry-After*"]),
    ("a retry does not wait the delay it computed", "model/client.cc",
     "engine.post_after(*delay, [this, p] {", "engine.post_after(0, [this, p] {",
     ["model_tests"], ["./model_tests", "-tc=*Retry-After*"]),
    ("the solve stage's capacity is unbounded", "job/assembly.cc",
     'stage(StageKind::kSolve, "solve", c.pipeline.llm_credits)', 'stage(StageKind::kSolve, "solve", 1u << 20)',
     ["actor_tests"], ["./actor_tests", "-tc=*stays within its credit*"]),
    ("recovered in-flight items are sent without credit", "actors/generator.cc",
     "      forward(std::move(in_flight_.front()));\n      in_flight_.pop_front();\n    }",
     "      forward(std::move(in_flight_.front()));\n      in_flight_.pop_front();\n    }\n"
     "    while (!in_flight_.empty()) {\n"
     "      send(setup_.next, wire::pack(wire::ItemBatch{{std::move(in_flight_.front())}}));\n"
     "      in_flight_.pop_front();\n    }",
     ["actor_tests"], ["./actor_tests", "-tc=*stays within its credit*"]),
    ("the agreement rule accepts ties", "dataflow/agreement.cc",
     "} else if (o_.majority && agree <= rival) {", "} else if (o_.majority && agree < rival) {",
     ["unit_tests"], ["./unit_tests", "-tc=agreement*"]),
    ("a timed-out snippet's children are not killed (single pid, not the group)", "sandbox/fresh_interpreter.cc",
     "kill(-pid, SIGKILL);  // grandchildren left in the group too", "kill(pid, SIGKILL);",
     ["unit_tests"], ["./unit_tests", "-tc=*process group*,*killed with it*"]),
    ("the baseline executor runs one snippet at a time", "sandbox/fresh_interpreter.cc",
     "unsigned n = options_.workers ? options_.workers : std::max(1u, std::thread::hardware_concurrency());",
     "unsigned n = 1;", ["unit_tests"], ["./unit_tests", "-tc=the pool runs snippets concurrently"]),
    ("the sandbox hides nothing (job folder, home folders)", "sandbox/forkserver.py",
     "            hide(path)\n", "            pass\n",
     ["sandbox_tests"], ["./sandbox_tests", "-tc=*hidden*,*database*"]),
    ("snippets may open any number of files", "sandbox/forkserver.py",
     "        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n", "",
     ["sandbox_tests"], ["./sandbox_tests", "-tc=*open-file*"]),
    ("snippets may write core files", "sandbox/forkserver.py",
     "        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))\n", "",
     ["sandbox_tests"], ["./sandbox_tests", "-tc=*core file*"]),
    ("verify-seeds: one domain's seeds never match (exec % stays 100)", "dataflow/checks.cc",
     "  if (!e.equivalent()) {\n    v.reason = e.outcome == equiv::Outcome::kUnparseable",
     "  if (!e.equivalent() || item.provenance.domain == \"Physics\") {\n    v.reason = e.outcome == equiv::Outcome::kUnparseable",
     ["veriforge"], ["bash", "{src}/tests/cli_test.sh", "./veriforge", "{src}"]),
    ("an item moves on before its log batch is durable", "actors/stage.h",
     "    pending_commits_.emplace(ticket, std::move(then));",
     "    then();\n    pending_commits_.emplace(ticket, [] {});",
     ["actor_tests"], ["./actor_tests", "-tc=no item moves on*"]),
    ("resume cuts lines a reader saw instead of adopting them", "job/job.cc",
     "    if (auto s = recover_outputs(); !s) return s;", "",
     ["actor_tests"], ["./actor_tests", "-tc=lines a reader saw*"]),
    ("the writer drops rejected records", "actors/writers.cc",
     "        if (auto s = rejected_.append_line(rejected_record(item, setup_.job_name).dump()); !s) return s;\n", "",
     ["actor_tests"], ["./actor_tests", "-tc=every generated item*"]),
]


def tracked_files(root):
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root,
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [f for f in out if f and os.path.isfile(os.path.join(root, f))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/veriforge-mutations", help="scratch folder (kept between runs)")
    ap.add_argument("--only", action="append", default=[], help="run only mutations whose name contains this")
    args = ap.parse_args()

    tree = os.path.join(args.work, "tree")
    build = os.path.join(args.work, "build")
    os.makedirs(tree, exist_ok=True)
    for f in tracked_files(SRC):
        dst = os.path.join(tree, f)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if not os.path.exists(dst) or open(os.path.join(SRC, f), "rb").read() != open(dst, "rb").read():
            shutil.copy2(os.path.join(SRC, f), dst)
    # The tests read ../shared beside the tree.
    shared = os.path.join(args.work, "shared")
    if not os.path.exists(shared):
        os.symlink(os.path.join(os.path.dirname(SRC), "shared"), shared)
    subprocess.run(["cmake", "-S", tree, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"],
                   check=True, stdout=subprocess.DEVNULL)

    selected = [m for m in MUTATIONS if not args.only or any(o in m[0] for o in args.only)]
    caught, survived, broken = [], [], []
    for name, path, old, new, targets, command in selected:
        full = os.path.join(tree, path)
        original = open(full).read()
        if original.count(old) != 1:
            broken.append(name)
            print("MOVED    %s: the text to change is not (exactly once) in %s" % (name, path), flush=True)
            continue
        try:
            open(full, "w").write(original.replace(old, new))
            t0 = time.time()
            b = subprocess.run(["cmake", "--build", build, "--target"] + targets, capture_output=True, text=True)
            if b.returncode != 0:
                broken.append(name)
                print("NOBUILD  %s: the mutated tree does not build:\n%s" % (name, b.stdout[-1500:]), flush=True)
                continue
            cmd = [c.format(src=tree) for c in command]
            r = subprocess.run(cmd, cwd=build, capture_output=True, text=True, timeout=1800)
            if r.returncode != 0:
                caught.append(name)
                print("caught   %s (%s, %.0f s)" % (name, " ".join(command[:2]), time.time() - t0), flush=True)
            else:
                survived.append(name)
                print("SURVIVED %s: %s passed with the change" % (name, " ".join(command)), flush=True)
        finally:
            open(full, "w").write(original)
    print("mutation-test: %d caught, %d survived, %d could not be applied, of %d" %
          (len(caught), len(survived), len(broken), len(selected)))
    return 0 if not survived and not broken else 1


if __name__ == "__main__":
    sys.exit(main())
