#include "cli/extractctl.hpp"

int main(int argc, char** argv) { return extract::cli::run_extractctl(argc, argv); }
