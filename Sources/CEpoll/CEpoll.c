// Empty: the module is its header (include/CEpoll.h).
#include "CEpoll.h"
