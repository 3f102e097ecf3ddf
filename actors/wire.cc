#include "actors/wire.h"

namespace vf::wire {

namespace {
struct Registrar {
  caf::actor_system_config* cfg;
  std::vector<std::string>* names;
  template <class P>
  void add() {
    if (cfg) cfg->add_message_type<Msg<P>>(P::kWireName);
    if (names) names->push_back(P::kWireName);
  }
};

void register_all(Registrar r) {
  r.add<Attach>();
  r.add<ItemBatch>();
  r.add<Credit>();
  r.add<EndOfStream>();
  r.add<LeaseBatch>();
  r.add<WorkReport>();
  r.add<RunDone>();
  r.add<CallDone>();
  r.add<LogDone>();
  r.add<Tick>();
  r.add<ReportDue>();
  r.add<Pause>();
  r.add<SetTarget>();
  r.add<StageReport>();
  r.add<JobReport>();
  r.add<Hello>();
  r.add<Challenge>();
  r.add<Proof>();
  r.add<Welcome>();
  r.add<Join>();
  r.add<NodeBeat>();
  r.add<Leave>();
  r.add<Budget>();
}
}  // namespace

void register_wire_types(caf::actor_system_config& cfg) { register_all({&cfg, nullptr}); }

std::vector<std::string> wire_type_names() {
  std::vector<std::string> names;
  register_all({nullptr, &names});
  return names;
}

}  // namespace vf::wire
