import { commandPolicy, defaultCommandPolicy, type CommandPolicy, type CommandPolicyOverride } from '@bazaar/topology';
import { handleAll, type CircuitBreakerPolicy } from 'cockatiel';
import { Counter, Gauge, type Registry } from 'prom-client';
import { AppError } from '../problem.ts';
import { countBreaker, type BreakerTrial } from './breaker-trial.ts';
import { RetryBudget } from './retry-budget.ts';
import { parseOverrides } from './upstreams.ts';
import { breakerStateName, type BreakerState } from './upstream-client.ts';
import { breakerValues } from './upstream-metrics.ts';

/** A reply that never came (the marker the breaker counts as a failure). */
class DeadlinePassed extends Error {}

/**
 * The policies of one participant's commands (see `CommandPolicy`): commands go
 * over the broker and their replies come back later, maybe to another replica,
 * so nothing wraps a call here. The orchestrator reports what happened instead —
 * a command sent, a reply, a deadline passed — and asks before it starts new
 * work that needs the participant (`admit`). cockatiel keeps the breaker (its
 * count-based window and half-open trial); each outcome is run through it as a
 * call that answers at once.
 */
export class CommandGuard {
  readonly participant: string;
  readonly policy: CommandPolicy;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly budget: RetryBudget;
  private readonly inFlight: () => number;
  private readonly trial: BreakerTrial;

  constructor(options: { participant: string; policy: CommandPolicy; inFlight: () => number; onStateChange?: (state: BreakerState) => void }) {
    this.participant = options.participant;
    this.policy = options.policy;
    this.inFlight = options.inFlight;
    ({ breaker: this.breaker, trial: this.trial } = countBreaker(handleAll, options.policy.breaker));
    const onStateChange = options.onStateChange;
    if (onStateChange) this.breaker.onStateChange((state) => onStateChange(breakerStateName(state)));
    this.budget = new RetryBudget(options.policy.retryBudget);
  }

  /**
   * Throws the 503 that refuses new work needing the participant: its breaker is
   * open (and the trial not yet due), or its commands in flight reached the bulkhead.
   */
  admit(): void {
    if (this.trial.refusing()) {
      throw new AppError('UPSTREAM_CIRCUIT_OPEN', `${this.participant} is not answering its commands; new work that needs it is paused`, {
        headers: { 'retry-after': this.trial.retryAfter() },
      });
    }
    if (this.inFlight() >= this.policy.bulkhead.maxInFlight) {
      throw new AppError('UPSTREAM_SATURATED', `${this.participant} has too many commands in flight`, { headers: { 'retry-after': '1' } });
    }
  }

  /** A first command was sent (resends are not counted: they take from the budget). */
  sent(): void {
    this.budget.recordCall();
  }

  /** The participant answered (succeeded or refused: either way it is working). */
  replied(): void {
    this.record(true);
  }

  /** A deadline passed with no reply. */
  timedOut(): void {
    this.record(false);
  }

  /** Takes a resend from the budget; false when spent (the resend waits a backoff instead). */
  tryResend(): boolean {
    return this.budget.tryRetry();
  }

  state(): BreakerState {
    return breakerStateName(this.breaker.state);
  }

  private record(replied: boolean): void {
    // While open (before the trial is due) cockatiel refuses without counting: nothing to learn then.
    // Async either way, so outcomes reported in one tick are counted in the order reported.
    this.breaker
      .execute(async () => {
        if (!replied) throw new DeadlinePassed();
      })
      .catch(() => {});
  }
}

/**
 * The guards of one sender's participants, with their state as metrics:
 * `saga_command_circuit_state{participant}` (0 closed, 1 half-open, 2 open),
 * `saga_commands_in_flight{participant}`,
 * `saga_command_outcomes_total{participant,outcome}` (sent, replied, timed_out,
 * refused_circuit_open, refused_saturated, resend_deferred).
 */
export class CommandGuards {
  private readonly guards = new Map<string, CommandGuard>();
  private readonly outcomes: Counter<'participant' | 'outcome'> | undefined;

  constructor(options: {
    sender: string;
    participants: readonly string[];
    /** Commands awaiting each participant's reply, over every replica (e.g. counted in the saga store). */
    inFlight: (participant: string) => number;
    /** COMMAND_POLICY_OVERRIDES (checked: a typo is a configuration error), or parsed overrides. */
    overrides?: string | Record<string, CommandPolicyOverride>;
    metrics?: Registry;
  }) {
    const overrides =
      typeof options.overrides === 'string' ? parseOverrides<CommandPolicyOverride>(options.overrides, 'COMMAND_POLICY_OVERRIDES', defaultCommandPolicy) : (options.overrides ?? {});
    const registers = options.metrics ? [options.metrics] : [];
    const circuit = options.metrics ? new Gauge({ name: 'saga_command_circuit_state', help: 'Breaker of commands to a participant: 0 closed, 1 half-open, 2 open, 3 isolated', labelNames: ['participant'], registers }) : undefined;
    for (const participant of options.participants) {
      const guard = new CommandGuard({
        participant,
        policy: commandPolicy(options.sender, participant, overrides),
        inFlight: () => options.inFlight(participant),
        ...(circuit ? { onStateChange: (state: BreakerState) => circuit.set({ participant }, breakerValues[state]) } : {}),
      });
      circuit?.set({ participant }, 0);
      this.guards.set(participant, guard);
    }
    if (options.metrics) {
      this.outcomes = new Counter({ name: 'saga_command_outcomes_total', help: 'Commands to a participant: sent, replied, timed_out, refused (circuit open, saturated) and resends deferred by the retry budget', labelNames: ['participant', 'outcome'], registers });
      const participants = options.participants;
      new Gauge({
        name: 'saga_commands_in_flight',
        help: 'Commands awaiting a participant’s reply, over every replica',
        labelNames: ['participant'],
        registers,
        collect() {
          for (const participant of participants) this.set({ participant }, options.inFlight(participant));
        },
      });
    }
  }

  get(participant: string): CommandGuard {
    const guard = this.guards.get(participant);
    if (!guard) throw new Error(`no command policy for participant ${participant}`);
    return guard;
  }

  /** Refuses (503) new work that needs any of `participants` while one of them is cut off or saturated. */
  admit(participants: Iterable<string>): void {
    for (const participant of participants) {
      try {
        this.get(participant).admit();
      } catch (error) {
        this.count(participant, (error as AppError).code === 'UPSTREAM_SATURATED' ? 'refused_saturated' : 'refused_circuit_open');
        throw error;
      }
    }
  }

  sent(participant: string): void {
    this.get(participant).sent();
    this.count(participant, 'sent');
  }

  replied(participant: string): void {
    this.get(participant).replied();
    this.count(participant, 'replied');
  }

  timedOut(participant: string): void {
    this.get(participant).timedOut();
    this.count(participant, 'timed_out');
  }

  tryResend(participant: string): boolean {
    if (this.get(participant).tryResend()) return true;
    this.count(participant, 'resend_deferred');
    return false;
  }

  private count(participant: string, outcome: string): void {
    this.outcomes?.inc({ participant, outcome });
  }
}
