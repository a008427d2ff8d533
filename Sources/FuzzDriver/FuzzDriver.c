// Empty on purpose: a C target needs one source file; the declaration is in the header.
#include "FuzzDriver.h"
