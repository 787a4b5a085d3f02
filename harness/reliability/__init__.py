"""Reliability in numbers: fuzzing every HTTP surface, the fault matrix, the soak's
checks, and the figures they publish (issue 17). One job per module:

* surfaces: which HTTP surfaces are fuzzed, on which server, as whom;
* hostile: hypothesis strategies for raw, hostile HTTP requests built from a document;
* raw_http: send one raw request and read what comes back, within a bound;
* verdict: the verdict on one fuzzed request;
* known_defects: defects found and not fixed here (xfail tests reproduce each);
* fuzz_run: a fuzzing session of one surface on one server (schemathesis and hostile);
* matrix_*: the fault matrix (faults, in-flight actions, cells, the generated table);
* figures: the JSON the runs write and the README table rendered from it.
"""
