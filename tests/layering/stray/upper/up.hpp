#pragma once
// An upper layer including a lower one, as allowed.
#include "lower/low.hpp"
