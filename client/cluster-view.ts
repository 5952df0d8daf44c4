/**
 * The side panels: the live replicas (the one serving this tab marked, each with a link that opens
 * the chat on it directly) and who is online, where. Both are rendered from the server's `presence`
 * event, which every replica computes from the same reports in Redis.
 */
import type { ClusterStatus, Presence } from '../shared/events.js';

/** "4 s", "3 min 12 s", "2 h 05 min". */
function formatUptime(milliseconds: number): string {
  const seconds = Math.max(0, Math.floor(milliseconds / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, '0')} min`;
}

export function renderCluster(status: ClusterStatus, currentInstance: string | undefined): void {
  const $instances = $('#instances').empty();
  for (const { instance, connections, since, url } of status.instances) {
    const current = instance === currentInstance;
    const $item = $('<li>')
      .attr({ 'data-instance': instance, 'data-connections': connections, 'data-since': since })
      .toggleClass('current', current)
      .append(
        $('<span class="number">').text(`#${instance}`),
        $('<span class="connections">').text(`${connections} connection${connections === 1 ? '' : 's'}`),
        $('<span class="uptime">').text(`up ${formatUptime(Date.now() - since)}`),
      );
    if (current) $item.attr('aria-current', 'true').append($('<span class="badge">').text('this tab'));
    if (url) {
      $item.append($('<a>').attr({ href: url, target: '_blank', rel: 'noopener' }).text('open').attr('aria-label', `Open the chat on instance ${instance}`));
    }
    $instances.append($item);
  }
}

/** Uptimes move on between `presence` events. */
export function refreshUptimes(): void {
  $('#instances li').each((_index, element) => {
    const since = Number($(element).attr('data-since'));
    $(element)
      .children('.uptime')
      .text(`up ${formatUptime(Date.now() - since)}`);
  });
}

export function renderPresence(presence: Presence, myName: string | undefined): void {
  $('#online-count').text(`(${presence.count})`);
  const $people = $('#people').empty();
  for (const [name, ...instances] of presence.people) {
    $people.append(
      $('<li>')
        .attr({ 'data-name': name, 'data-instances': instances.join(' ') })
        .toggleClass('me', name === myName)
        .append($('<span class="name">').text(name), $('<span class="where">').text(instances.map((instance) => `#${instance}`).join(', '))),
    );
  }
  const unlisted = presence.count - presence.people.length;
  if (unlisted > 0) $people.append($('<li class="more">').text(`and ${unlisted} more`));
}
