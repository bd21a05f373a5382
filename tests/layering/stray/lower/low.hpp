#pragma once
// A lower layer reaching up: check-layering must refuse this include.
#include "upper/up.hpp"
