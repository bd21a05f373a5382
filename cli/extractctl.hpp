#pragma once
// The extractctl program: reads argv and the environment, runs the command, and maps every
// outcome, an unreachable daemon included, to SPEC §9's exit codes.

namespace extract::cli {

int run_extractctl(int argc, char** argv);

}  // namespace extract::cli
