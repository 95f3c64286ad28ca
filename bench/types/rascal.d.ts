// The part of rascal 21's API the bench uses (rascal ships no types; bench-only dev dependency).
declare module 'rascal' {
  import type { EventEmitter } from 'node:events';
  import type { Message } from 'amqplib';

  export type AckOrNack = (error?: Error) => void;

  export interface SubscriberSession extends EventEmitter {
    on(
      event: 'message',
      listener: (message: Message, content: unknown, ackOrNack: AckOrNack) => void,
    ): this;
    on(event: 'error' | 'invalid_content', listener: (error: Error) => void): this;
    cancel(): Promise<void>;
  }

  export interface PublicationSession extends EventEmitter {
    on(event: 'success', listener: (messageId: string) => void): this;
    on(event: 'error', listener: (error: Error, messageId: string) => void): this;
    on(event: 'return', listener: (message: Message) => void): this;
  }

  export interface BrokerAsPromised extends EventEmitter {
    subscribe(name: string, overrides?: object): Promise<SubscriberSession>;
    publish(name: string, content: unknown, overrides?: object): Promise<PublicationSession>;
    shutdown(): Promise<void>;
  }

  const rascal: {
    BrokerAsPromised: { create(config: object): Promise<BrokerAsPromised> };
    withDefaultConfig(config: object): object;
  };
  export default rascal;
}
