//! Elixir's `GenStage.stream/2` in plain Erlang, for tests of rotp producers against what it
//! sends: gen_stage itself is an Elixir library that cannot be installed here, but its stream
//! speaks the stage protocol with a few particulars of its own that rotp must answer.

/// An Erlang expression that does on the wire what
/// `GenStage.stream([{To, max_demand: Max}]) |> Enum.take(Take)` does (gen_stage 1.3,
/// `lib/gen_stage/stream.ex`), and evaluates to `{Taken, Ended}`: the events taken (or
/// `{timeout, Taken}` when none came for 10 s), and how the stream's cancellation was answered
/// (`{cancel, Reason}` from the producer, `{down, Reason}` from the stream's monitor of it, or
/// `no_answer` after 10 s).
///
/// As `stream.ex` does: a monitor process (`init_monitor/2`) monitors the producer and sends
/// it, on the caller's behalf, `{'$gen_producer', {Caller, {MonitorRef, InnerRef}}, {subscribe,
/// nil, [{max_demand, Max}]}}` and `{ask, Max}` (`subscriptions_monitor/3`: the subscription is
/// named `{MonitorRef, InnerRef}`, not a reference); the caller casts `{'$demand', forward}`
/// (`GenStage.demand/2` in `demand_stream_subscriptions/2`), splits what comes into batches and
/// asks again after each as `GenStage.Utils.split_batches/5` says, and when `Enum.take/2` has
/// enough, cancels (`request_to_cancel_stream/4`: `{cancel, normal}`) and waits for the
/// producer's answer, skipping events that were on their way, before it kills the monitor
/// process (`close_stream/1`). `to` is an Erlang term naming the producer (`{Name, Node}`).
/// The expression binds no variable outside itself, so it can be used twice in one script.
pub fn stream_take(to: &str, max_demand: u32, take: usize) -> String {
    format!(
        "(fun() -> \
           To = {to}, Max = {max_demand}, Min = Max div 2, Take = {take}, Caller = self(), \
           {{Mon, MRef}} = spawn_monitor(fun() -> \
               CRef = monitor(process, Caller), \
               receive \
                   {{Caller, Ref}} -> \
                       IRef = monitor(process, To), \
                       From = {{Caller, {{Ref, IRef}}}}, \
                       erlang:send(To, {{'$gen_producer', From, {{subscribe, nil, [{{max_demand, Max}}]}}}}, [noconnect]), \
                       erlang:send(To, {{'$gen_producer', From, {{ask, Max}}}}, [noconnect]), \
                       Caller ! {{Ref, {{subscribed, IRef}}}}, \
                       (fun Relay() -> receive \
                           {{'DOWN', CRef, _, _, _}} -> ok; \
                           {{'DOWN', IRef, _, _, Why}} -> Caller ! {{Ref, {{'DOWN', IRef, Why}}}}, Relay() \
                       end end)(); \
                   {{'DOWN', CRef, _, _, _}} -> ok \
               end end), \
           Mon ! {{Caller, MRef}}, \
           IRef = receive {{MRef, {{subscribed, I}}}} -> I after 10000 -> exit(no_subscription) end, \
           To ! {{'$gen_cast', {{'$demand', forward}}}}, \
           Tag = {{MRef, IRef}}, \
           Split = fun S([], _Old, New, Acc) -> {{New, lists:reverse(Acc)}}; \
                       S(Es, Old, New, Acc) -> \
                           {{Batch, Rest}} = case length(Es) > Max - Min of \
                               true -> lists:split(Max - Min, Es); \
                               false -> {{Es, []}} end, \
                           {{Old1, Size}} = case Old - length(Batch) of \
                               D1 when D1 < 0 -> {{0, Old}}; \
                               D1 -> {{D1, length(Batch)}} end, \
                           {{New1, Ask}} = case New - Size of \
                               D2 when D2 =< Min -> {{Max, Max - D2}}; \
                               D2 -> {{D2, 0}} end, \
                           S(Rest, Old1, New1, [{{Batch, Ask}} | Acc]) end, \
           Consume = fun C([], Demand, Taken) -> \
                             receive {{'$gen_consumer', {{_, Tag}}, Es}} when is_list(Es) -> \
                                 {{Demand1, Batches}} = Split(Es, Demand, Demand, []), \
                                 C(Batches, Demand1, Taken) \
                             after 10000 -> {{timeout, Taken}} end; \
                         C([{{Batch, Ask}} | Batches], Demand, Taken) -> \
                             Now = Taken ++ Batch, \
                             case length(Now) >= Take of \
                                 true -> lists:sublist(Now, Take); \
                                 false -> \
                                     Ask > 0 andalso erlang:send(To, {{'$gen_producer', {{Caller, Tag}}, {{ask, Ask}}}}, [noconnect]), \
                                     C(Batches, Demand, Now) \
                             end end, \
           Taken = Consume([], Max, []), \
           erlang:send(To, {{'$gen_producer', {{Caller, Tag}}, {{cancel, normal}}}}, [noconnect]), \
           Ended = (fun W() -> receive \
               {{'$gen_consumer', {{_, Tag}}, Es}} when is_list(Es) -> W(); \
               {{'$gen_consumer', {{_, Tag}}, {{cancel, Why}}}} -> {{cancel, Why}}; \
               {{MRef, {{'DOWN', IRef, Why}}}} -> {{down, Why}} \
           after 10000 -> no_answer end end)(), \
           demonitor(MRef, [flush]), exit(Mon, kill), \
           {{Taken, Ended}} \
         end)()"
    )
}
