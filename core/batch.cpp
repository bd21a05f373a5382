#include "core/batch.hpp"
