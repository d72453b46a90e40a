// tern-standalone: the tern CNI plugin doing a call's work in its own process. The `tern`
// front runs it when ternd cannot take the call: ternd is down (an ADD then fails with
// code 11, a DEL still removes the veth and spools the release), the IPAM is another
// plugin (host-local), or ternd died during the call. See cni/tern_plugin.cpp.
#include "cni/plugin.hpp"
#include "cni/tern_plugin.hpp"

int main() { return tern::cni::run_plugin(tern::cni::handle_tern); }
