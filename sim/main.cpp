#include "sim/sim_program.hpp"

int main(int argc, char** argv) { return extract::sim::run_sim(argc, argv); }
