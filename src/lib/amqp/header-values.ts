/**
 * Reading a count out of a header that another client may have set to anything. amqplib
 * decodes a field table as a plain object with the table's keys as its own properties, so a
 * producer's `{"toString": 1}` (pika, Java) makes an object that `Number()` and `String()`
 * throw on ("Cannot convert object to primitive value"). Read in amqplib's consume callback,
 * such a throw took the connection down (a dependency failure, 69), and the message came back
 * to do it again after every restart: a restart loop on one message. So a header's value is
 * never converted: a number is taken as it is, a string of digits as its number, and anything
 * else (a table, an array, bytes, a boolean) reads as absent.
 */

/** The non-negative integer a header holds, or undefined when it holds none. */
export function countHeader(
  headers: Readonly<Record<string, unknown>>,
  name: string,
): number | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const value = headers[name];
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d{1,15}$/.test(value)
        ? Number(value)
        : undefined;
  return number !== undefined && Number.isSafeInteger(number) && number >= 0 ? number : undefined;
}
